"""`orderctl preflight`: what `pulumi preview` would refuse about a stack's config, before running it.

First the Pulumi CLI's own rules (sandbox.pulumi_cli_config), then, for this project, the program's
rules (infra/config.py), found by running the real program once in preview mode under mocks: orderctl
never imports the program.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.program import preview_check
from sandbox.pulumi_cli_config import Project, ResolvedConfig, StackConfigError, resolve

THIS_PROJECT_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Preflight:
    resolved: ResolvedConfig | None
    cli_problems: list[str] = field(default_factory=list)
    program_problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.cli_problems and not self.program_problems

    def problem_lines(self) -> list[str]:
        cli = [f"{'override' if p.startswith('--config ') else 'Pulumi CLI'}: {p}" for p in self.cli_problems]
        return cli + [f"program: {p}" for p in self.program_problems]


def preflight(project_dir: Path, stack: str, overrides: Mapping[str, str] | None = None) -> Preflight:
    try:
        project = Project.load(project_dir)
        resolved = resolve(project, stack, overrides)
    except StackConfigError as error:
        return Preflight(resolved=None, cli_problems=list(error.problems))
    notes = list(resolved.notes)
    if project_dir.resolve() != THIS_PROJECT_DIR or notes:
        # Another project's program is not ours to run; a secret we cannot decrypt leaves its rules unchecked.
        if project_dir.resolve() == THIS_PROJECT_DIR:
            notes.append("the program's own rules were not checked: give the secure values with --config")
        return Preflight(resolved=resolved, notes=notes)
    check = preview_check(project, stack, resolved.program_config())
    return Preflight(resolved=resolved, program_problems=check.problems, notes=notes + check.warnings)
