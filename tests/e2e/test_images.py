"""The project's images, built from its Dockerfile: what each holds."""

from __future__ import annotations

import io
import json
import tarfile

from fragrance_dev.images import Built


def _layer_paths(archive: str) -> set[str]:
    """Every path in every layer of an (uncompressed) OCI archive."""
    paths: set[str] = set()
    with tarfile.open(archive) as outer:
        index = json.load(outer.extractfile("index.json"))  # type: ignore[arg-type]
        digest = index["manifests"][0]["digest"].split(":")[1]
        manifest = json.load(outer.extractfile(f"blobs/sha256/{digest}"))  # type: ignore[arg-type]
        for layer in manifest["layers"]:
            blob = outer.extractfile(f"blobs/sha256/{layer['digest'].split(':')[1]}")
            assert blob is not None
            with tarfile.open(fileobj=io.BytesIO(blob.read())) as inner:
                paths.update(inner.getnames())
    return paths


def test_the_operator_image_holds_the_operator_and_no_torch_or_ray(
    images: dict[str, Built],
) -> None:
    operator = images["operator"]
    paths = _layer_paths(operator.archive)
    packages = {p.split("site-packages/")[1].split("/")[0] for p in paths if "site-packages/" in p}
    assert {"fragrance_operator", "fragrance_api", "kopf"} <= packages
    assert not packages & {"torch", "ray", "fragrance_serving", "fragrance_dev"}
    print(f"operator image {operator.image}: {operator.size_mib:,.0f} MiB")
    print(f"serving image {images['serving'].image}: {images['serving'].size_mib:,.0f} MiB")
