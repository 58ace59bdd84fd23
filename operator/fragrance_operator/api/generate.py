"""Everything generated from the models: the CRDs and the API reference."""

from __future__ import annotations

from pathlib import Path

from . import crd, reference


def generated(crd_dir: Path, reference_path: Path) -> dict[Path, str]:
    files = {crd_dir / f"{crd.GROUP}_{kind.plural}.yaml": crd.render(kind) for kind in crd.KINDS}
    files[reference_path] = reference.render()
    return files


def write(crd_dir: Path, reference_path: Path) -> list[Path]:
    files = generated(crd_dir, reference_path)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)


def stale(crd_dir: Path, reference_path: Path) -> list[Path]:
    """The generated files that are missing or differ from what the models generate now."""
    return [
        path
        for path, text in generated(crd_dir, reference_path).items()
        if not path.is_file() or path.read_text() != text
    ]
