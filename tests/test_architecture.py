"""The arrows between folders go one way: __main__ -> infra; handler stands alone; sandbox runs, never imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "handler": {"infra", "sandbox", "orderctl", "pulumi", "pulumi_aws", "tests"},
    "infra": {"handler", "sandbox", "orderctl", "tests"},
    "sandbox": {"infra", "handler", "orderctl", "tests"},
    "orderctl": {"infra", "handler", "tests"},
    "policypack": {"infra", "handler", "sandbox", "orderctl", "tests"},
}


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
    if package in ("handler", "infra", "sandbox", "policypack"):
        assert files, f"{package}/ has no modules"
    for path in files:
        crossing = imported_top_level_modules(path) & FORBIDDEN[package]
        assert not crossing, f"{path.relative_to(ROOT)} imports {sorted(crossing)}"


def test_main_only_composes_infra() -> None:
    assert imported_top_level_modules(ROOT / "__main__.py") <= {"pathlib", "pulumi", "infra"}
