"""The Lambda code archive: the handler package plus the pure-Python libraries it needs.

Powertools is packaged with the code from the installed distribution, so the function runs exactly
the version the tests pin (no public-layer lookup, no invoke at preview time).

The archive is the same bytes whichever installer made the venv (`make install`'s `pip --no-compile`,
`pulumi install`'s plain pip, another machine's): it holds each library's files as its wheel ships them
and none of what an installer writes, so a deploy from anywhere sees no change in the code.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from pathlib import Path

import pulumi

Assets = dict[str, pulumi.Asset | pulumi.Archive]

HANDLER_PACKAGE = "handler"
# Not in the Lambda Python runtime, pure Python (so an x86_64 build machine can package for arm64).
VENDORED_DISTRIBUTIONS = ("aws-lambda-powertools", "typing-extensions", "fastjsonschema")


# Of a distribution's .dist-info, what the wheel itself ships and the function may use: METADATA (so
# importlib.metadata finds the library and its version in Lambda as here) and the license files, which
# travel with the code. Not RECORD, INSTALLER, REQUESTED or direct_url.json, which the installer writes
# (RECORD lists the bytecode pip compiled, direct_url.json where the wheel came from), nor WHEEL,
# top_level.txt or entry points, which nothing reads at run time.
KEPT_METADATA = frozenset({"METADATA"})
LICENSE_PREFIXES = ("licenses/", "license", "licence", "copying", "notice", "authors")


def _is_packaged(relative: Path) -> bool:
    """Not bytecode (compiled here, or by the installer, for this machine's Python) and not outside the tree."""
    return "__pycache__" not in relative.parts and relative.parts[0] != ".." and relative.suffix not in (".pyc", ".pyo")


def _is_vendored(relative: Path) -> bool:
    if not _is_packaged(relative):
        return False
    if not relative.parts[0].endswith(".dist-info"):
        return True
    inside = Path(*relative.parts[1:]).as_posix()
    return inside in KEPT_METADATA or inside.lower().startswith(LICENSE_PREFIXES)


def handler_assets(project_dir: Path) -> Assets:
    package_dir = project_dir / HANDLER_PACKAGE
    files = (path for path in sorted(package_dir.rglob("*")) if path.is_file())
    return {
        path.relative_to(project_dir).as_posix(): pulumi.FileAsset(str(path))
        for path in files
        if _is_packaged(path.relative_to(project_dir))
    }


def _distribution(name: str, path: Sequence[Path] | None) -> importlib.metadata.Distribution:
    if path is None:
        return importlib.metadata.distribution(name)
    found = next(iter(importlib.metadata.distributions(name=name, path=[str(p) for p in path])), None)
    if found is None:
        raise importlib.metadata.PackageNotFoundError(f"{name} (in {', '.join(map(str, path))})")
    return found


def distribution_assets(name: str, path: Sequence[Path] | None = None) -> Assets:
    """The files of installed distribution `name` that the function imports or reads, from `path` (a list of
    site-packages directories) or else this interpreter's import path."""
    distribution = _distribution(name, path)
    if distribution.files is None:  # no RECORD: packaging nothing would fail only at the function's init
        raise RuntimeError(f"{name} {distribution.version} lists no files (no RECORD): reinstall it with pip")
    return {
        entry.as_posix(): pulumi.FileAsset(str(distribution.locate_file(entry)))
        for entry in sorted(distribution.files, key=str)
        if _is_vendored(Path(entry))
    }


def function_code(project_dir: Path, path: Sequence[Path] | None = None) -> pulumi.AssetArchive:
    """The handler package and the vendored libraries, installed in `path` (default: this interpreter's)."""
    assets = handler_assets(project_dir)
    for name in VENDORED_DISTRIBUTIONS:
        assets.update(distribution_assets(name, path))
    return pulumi.AssetArchive(assets)
