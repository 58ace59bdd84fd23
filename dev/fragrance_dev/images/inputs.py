"""What an image is made of, hashed: its tag names its inputs, so an unchanged tree reuses it."""

from __future__ import annotations

import hashlib
from pathlib import Path

#: The folders the Dockerfile copies (as .dockerignore lets through), and the files that
#: say how they are built.
SOURCES = ("api", "operator", "serving")
RECIPE = ("Dockerfile", ".dockerignore")
_SKIPPED = ("__pycache__", ".egg-info", ".mypy_cache", ".pytest_cache", ".ruff_cache")


def source_files(root: Path) -> list[Path]:
    files = [root / name for name in RECIPE]
    for folder in SOURCES:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and not any(part.endswith(_SKIPPED) for part in path.parts):
                files.append(path)
    return files


def digest(root: Path, *extra: str) -> str:
    """sha256 over the sources' paths and contents and ``extra`` (e.g. the base's id)."""
    hasher = hashlib.sha256()
    for text in extra:
        hasher.update(text.encode() + b"\0")
    for path in source_files(root):
        hasher.update(str(path.relative_to(root)).encode() + b"\0")
        hasher.update(hashlib.sha256(path.read_bytes()).digest())
    return hasher.hexdigest()


def base_digest(sources: list[Path], packages: tuple[str, ...], trust: Path) -> str:
    """The local base's inputs: this machine's apt sources, the packages, its CA bundle."""
    hasher = hashlib.sha256(" ".join(packages).encode())
    for path in [*sources, trust]:
        hasher.update(path.read_bytes())
    return hasher.hexdigest()
