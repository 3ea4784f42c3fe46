"""The Lambda code archive: the handler package plus the pure-Python libraries it needs.

Powertools is packaged with the code from the installed distribution, so the function runs exactly
the version the tests pin (no public-layer lookup, no invoke at preview time).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pulumi

Assets = dict[str, pulumi.Asset | pulumi.Archive]

HANDLER_PACKAGE = "handler"
# Not in the Lambda Python runtime, pure Python (so an x86_64 build machine can package for arm64).
VENDORED_DISTRIBUTIONS = ("aws-lambda-powertools", "typing-extensions", "fastjsonschema")


def _is_packaged(relative: Path) -> bool:
    return "__pycache__" not in relative.parts and relative.parts[0] != ".."


def handler_assets(project_dir: Path) -> Assets:
    package_dir = project_dir / HANDLER_PACKAGE
    files = (path for path in sorted(package_dir.rglob("*")) if path.is_file())
    return {
        path.relative_to(project_dir).as_posix(): pulumi.FileAsset(str(path))
        for path in files
        if _is_packaged(path.relative_to(project_dir))
    }


def distribution_assets(name: str) -> Assets:
    distribution = importlib.metadata.distribution(name)
    return {
        entry.as_posix(): pulumi.FileAsset(str(distribution.locate_file(entry)))
        for entry in sorted(distribution.files or [], key=str)
        if _is_packaged(Path(entry))
    }


def function_code(project_dir: Path) -> pulumi.AssetArchive:
    assets = handler_assets(project_dir)
    for name in VENDORED_DISTRIBUTIONS:
        assets.update(distribution_assets(name))
    return pulumi.AssetArchive(assets)
