"""The Lambda archive: the handler package and vendored libraries, never bytecode compiled on this machine."""

from __future__ import annotations

import py_compile
from pathlib import Path

from infra.packaging import HANDLER_PACKAGE, handler_assets


def test_the_handler_package_is_archived_without_its_bytecode(tmp_path: Path) -> None:
    package = tmp_path / HANDLER_PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text("def handler(event, context):\n    return None\n")
    py_compile.compile(str(package / "app.py"), doraise=True)  # what importing it here leaves behind
    assert list(package.glob("__pycache__/*.pyc"))
    assert sorted(handler_assets(tmp_path)) == ["handler/__init__.py", "handler/app.py"]
