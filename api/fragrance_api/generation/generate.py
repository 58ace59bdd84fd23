"""Everything generated from the models: the CRDs and the API reference."""

from __future__ import annotations

from pathlib import Path

from fragrance_api import crd

from . import crds, reference


def generated(crd_dir: Path, reference_path: Path) -> dict[Path, str]:
    files = {crd_dir / f"{crd.GROUP}_{kind.plural}.yaml": crds.render(kind) for kind in crd.KINDS}
    files[reference_path] = reference.render()
    return files


def stale(crd_dir: Path, reference_path: Path) -> list[Path]:
    """The generated files that are missing or differ from what the models generate now."""
    return [
        path
        for path, text in generated(crd_dir, reference_path).items()
        if not path.is_file() or path.read_text() != text
    ]
