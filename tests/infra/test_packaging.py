"""The Lambda archive: the handler package and vendored libraries, never bytecode compiled on this machine,
and the same bytes whichever installer made the venv it is built from."""

from __future__ import annotations

import hashlib
import io
import os
import py_compile
import subprocess
import sys
import zipfile
from pathlib import Path

import pulumi
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.packaging import HANDLER_PACKAGE, VENDORED_DISTRIBUTIONS, function_code, handler_assets
from sandbox.environment import runtime_libraries

PROJECT_DIR = Path(__file__).resolve().parents[2]
PIP_TIMEOUT_SECONDS = 120


def test_the_handler_package_is_archived_without_its_bytecode(tmp_path: Path) -> None:
    package = tmp_path / HANDLER_PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text("def handler(event, context):\n    return None\n")
    py_compile.compile(str(package / "app.py"), doraise=True)  # what importing it here leaves behind
    assert list(package.glob("__pycache__/*.pyc"))
    assert sorted(handler_assets(tmp_path)) == ["handler/__init__.py", "handler/app.py"]


def _vendored_pins() -> list[str]:
    """The vendored distributions at the versions requirements.txt pins, as `name==version`."""
    wanted = {canonicalize_name(name) for name in VENDORED_DISTRIBUTIONS}
    pins = []
    for line in (PROJECT_DIR / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith(("#", "-")):
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) in wanted:
                pins.append(f"{requirement.name}{requirement.specifier}")
    assert len(pins) == len(wanted), f"requirements.txt pins {pins}, not all of {sorted(wanted)}"
    return pins


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *args]
    subprocess.run(command, check=True, timeout=PIP_TIMEOUT_SECONDS)


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pinned wheels, fetched once from the package index (pip's HTTP cache makes later runs local)."""
    directory = tmp_path_factory.mktemp("wheels")
    _pip("download", "--no-deps", "--only-binary=:all:", "--dest", str(directory), *_vendored_pins())
    return directory


@pytest.fixture(scope="session")
def installs(wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The vendored distributions installed twice, as differently as two machines would install them."""
    no_compile = tmp_path_factory.mktemp("no-compile")  # the Makefile's way: by name, no bytecode
    _pip(
        "install",
        "--no-deps",
        "--no-index",
        "--find-links",
        str(wheels),
        "--no-compile",
        "--target",
        str(no_compile),
        *_vendored_pins(),
    )
    # Plain pip (as `pulumi install` runs it): bytecode compiled and listed in RECORD; from the wheel files, so
    # direct_url.json records where they were.
    compiled = tmp_path_factory.mktemp("compiled")
    _pip("install", "--no-deps", "--no-index", "--target", str(compiled), *map(str, sorted(wheels.glob("*.whl"))))
    return {"no-compile": no_compile, "compiled": compiled}


def _contents(archive: pulumi.AssetArchive) -> dict[str, bytes]:
    contents = {}
    for name, asset in archive.assets.items():
        assert isinstance(asset, pulumi.FileAsset), name
        contents[name] = Path(str(asset.path)).read_bytes()
    return contents


def _zipped(contents: dict[str, bytes]) -> bytes:
    """The archive as a zip whose bytes depend only on its entries' names and contents."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in sorted(contents.items()):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def test_the_archive_is_the_same_whichever_way_pip_installed_the_libraries(installs: dict[str, Path]) -> None:
    records = {
        how: sorted(path.read_bytes() for path in directory.glob("*.dist-info/RECORD"))
        for how, directory in installs.items()
    }
    assert records["no-compile"] != records["compiled"]  # the installs differ: one lists bytecode
    contents = {how: _contents(function_code(PROJECT_DIR, [directory])) for how, directory in installs.items()}
    digests = {how: {name: hashlib.sha256(data).hexdigest() for name, data in c.items()} for how, c in contents.items()}
    assert digests["no-compile"] == digests["compiled"]
    assert _zipped(contents["no-compile"]) == _zipped(contents["compiled"])


def test_the_archive_holds_nothing_an_installer_writes(installs: dict[str, Path]) -> None:
    archive = function_code(PROJECT_DIR, [installs["compiled"]])
    installer_files = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    assert not [name for name in archive.assets if name.rsplit("/", 1)[-1] in installer_files]
    assert not [name for name in archive.assets if "__pycache__" in name or name.endswith((".pyc", ".pyo"))]


def test_the_handler_imports_from_the_archive_alone(installs: dict[str, Path], tmp_path: Path) -> None:
    """As Lambda runs it: the archive unpacked as the task root, beside only the runtime's own libraries."""
    task_root = tmp_path / "task"
    for name, content in _contents(function_code(PROJECT_DIR, [installs["compiled"]])).items():
        (task_root / name).parent.mkdir(parents=True, exist_ok=True)
        (task_root / name).write_bytes(content)
    libraries = runtime_libraries(tmp_path / "runtime")
    probe = (
        "import importlib.metadata, handler.app\n"
        "print(handler.app.__file__)\n"
        "print(importlib.metadata.version('aws-lambda-powertools'))\n"
    )
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(task_root), str(libraries)]),
        "TABLE_NAME": "orders",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    result = subprocess.run(
        [sys.executable, "-S", "-B", "-c", probe],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    module_file, version = result.stdout.split()
    assert Path(module_file).is_relative_to(task_root)
    [pin] = [pin for pin in _vendored_pins() if canonicalize_name(pin.split("==")[0]) == "aws-lambda-powertools"]
    assert version == pin.split("==")[1]
