"""Copies of this project for planning tests: the deployed version and a changed one."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(".venv", ".git", ".sandbox", ".bench", "*_cache", "__pycache__", ".hypothesis", "tests")


def copy_project(target: Path) -> Path:
    shutil.copytree(PROJECT_DIR, target, ignore=SKIP)
    return target


def changed(base: Path, tmp_path: Path, edit: Callable[[Path], None]) -> Path:
    tree = tmp_path / "project"
    shutil.copytree(base, tree)
    edit(tree)
    return tree


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def new_table_key(tree: Path) -> None:
    replace_in(tree / "infra/table.py", 'hash_key="orderId"', 'hash_key="id"')
