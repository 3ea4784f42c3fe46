"""The arrows between folders go one way: __main__ -> infra; handler stands alone; sandbox runs, never imports;
orderctl reaches into the handler only for its pure order model and envelope (the processor's own verdict);
contract/ holds the shared constants every side may import, and imports nothing of the project."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "handler": {"infra", "sandbox", "orderctl", "contract", "pulumi", "pulumi_aws", "tests"},
    # Shared constants (output names, resource types, granted actions): importable by every side, importing none.
    "contract": {"infra", "handler", "sandbox", "orderctl", "policypack", "tests", "pulumi", "pulumi_aws", "boto3"},
    "infra": {"handler", "sandbox", "orderctl", "tests"},
    "sandbox": {"infra", "handler", "orderctl", "tests"},
    "orderctl": {"infra", "tests"},  # handler: see ALLOWED_HANDLER_MODULES
    # The pack runs in its own environment, and its permission list is the independent check of contract's.
    "policypack": {"infra", "handler", "sandbox", "orderctl", "contract", "tests"},
    # The capacity model: pure functions of AWS's rules and measured figures (data files), read by orderctl and bench.
    "capacity": {"infra", "handler", "sandbox", "orderctl", "bench", "tests", "pulumi", "pulumi_aws", "boto3"},
}


# The one edge into the handler: orderctl's publish pre-check and DLQ listing use the processor's own parsing.
ALLOWED_HANDLER_MODULES = {"orderctl": {"handler.order", "handler.envelope"}}


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def imported_top_level_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_arrow_allows(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    if package in ("handler", "infra", "sandbox", "policypack", "contract", "capacity"):
        assert files, f"{package}/ has no modules"
    for path in files:
        crossing = imported_top_level_modules(path) & FORBIDDEN[package]
        assert not crossing, f"{path.relative_to(ROOT)} imports {sorted(crossing)}"


@pytest.mark.parametrize("package", sorted(ALLOWED_HANDLER_MODULES))
def test_only_the_handlers_pure_modules_are_imported_from_outside(package: str) -> None:
    allowed = ALLOWED_HANDLER_MODULES[package]
    for path in sorted((ROOT / package).rglob("*.py")):
        reached = {m for m in imported_modules(path) if m == "handler" or m.startswith("handler.")}
        assert reached <= allowed, (
            f"{path.relative_to(ROOT)} imports {sorted(reached - allowed)}; only {sorted(allowed)}"
        )


def test_main_only_composes_infra() -> None:
    assert imported_top_level_modules(ROOT / "__main__.py") <= {"pathlib", "pulumi", "infra"}


# The policy evaluator is pure: plain documents and a request in, a decision out. Every part of the sandbox may
# ask it; it asks nothing of them, nor of moto's or the SDK's request machinery (issue 17, item 7).
POLICY_PACKAGE = ROOT / "sandbox" / "policy"


def test_the_policy_evaluator_imports_nothing_of_the_sandbox_nor_the_emulator() -> None:
    files = sorted(POLICY_PACKAGE.rglob("*.py"))
    assert files, "sandbox/policy/ has no modules"
    for path in files:
        for module in imported_modules(path):
            top = module.split(".")[0]
            inside = module == "sandbox.policy" or module.startswith("sandbox.policy.")
            assert inside or top not in {"sandbox", "moto", "boto3", "botocore", "pulumi"}, (
                f"{path.relative_to(ROOT)} imports {module}"
            )
