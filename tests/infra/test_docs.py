"""Pulumi.yaml, infra/config.py and the README's config table describe the same keys."""

from __future__ import annotations

import json
import re

from infra.config import CONFIG_KEYS, INT_RANGES
from tests.infra.conftest import PROJECT, PROJECT_DIR


def readme_config_rows() -> dict[str, list[str]]:
    readme = (PROJECT_DIR / "README.md").read_text()
    table = readme.split("<!-- config-table:start -->")[1].split("<!-- config-table:end -->")[0]
    rows = [line.strip().strip("|").split("|") for line in table.strip().splitlines()[2:]]
    return {cells[0].strip().strip("`"): [cell.strip() for cell in cells[1:]] for cells in rows}


def test_every_config_key_the_program_reads_is_declared_in_pulumi_yaml() -> None:
    assert set(PROJECT.config) == set(CONFIG_KEYS)


def test_every_declared_key_has_a_type_and_a_default() -> None:
    """The Pulumi CLI requires a stack value for every project key with neither default nor value."""
    for key, declaration in PROJECT.config.items():
        assert declaration.type in ("integer", "string", "boolean", "array"), key
        assert declaration.has_default, key


def test_readme_config_table_matches_pulumi_yaml() -> None:
    rows = readme_config_rows()
    assert list(rows) == list(PROJECT.config)
    for key, (type_, default, allowed, _meaning) in rows.items():
        declaration = PROJECT.config[key]
        assert declaration.type is not None
        assert type_.startswith(declaration.type), key
        documented = re.match(r"`([^`]*)`", default)
        assert documented is not None, key
        expected = declaration.default
        assert documented.group(1) == (expected if isinstance(expected, str) else json.dumps(expected)), key
        if key in INT_RANGES:
            assert allowed.startswith(INT_RANGES[key].describe()), key
