"""Both targets of the top-level Dockerfile, built with buildah and kept as OCI archives.

An image's tag is a hash of its inputs (the sources, the Dockerfile, the base): an unchanged
tree is not rebuilt, and the archive under ``.cache/images`` is what the real node loads.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .base import ensure_base
from .inputs import digest
from .run import Progress, buildah, run_logged

TARGETS = ("operator", "serving")
REPOSITORY = "localhost/fragrance"


@dataclass(frozen=True)
class Built:
    target: str
    image: str
    archive: str
    size_mib: float


def images_dir(root: Path) -> Path:
    return root / ".cache" / "images"


def build_images(root: Path, progress: Progress, targets: tuple[str, ...] = TARGETS) -> list[Built]:
    base = ensure_base(progress)
    base_id = buildah("images", "--quiet", "--no-trunc", base).stdout.strip()
    tag = digest(root, base_id)[:12]
    out = images_dir(root)
    out.mkdir(parents=True, exist_ok=True)
    built = [
        _target(root, target, f"{REPOSITORY}/{target}:{tag}", base, out, progress)
        for target in targets
    ]
    for stale in out.glob("*.tar"):  # one archive per target: the current one
        if str(stale) not in {b.archive for b in built}:
            stale.unlink()
    _forget_older(
        built,
        buildah("images", "--format", "{{.Name}}:{{.Tag}}").stdout.split(),
        lambda name: buildah("rmi", name, check=False),
    )
    return built


def _forget_older(built: list[Built], present: list[str], remove: Callable[[str], object]) -> None:
    """Remove the older tags of the images just built (their layers take GBs); the layers
    a current image shares with them stay."""
    current = {b.image for b in built}
    repositories = {b.image.rsplit(":", 1)[0] for b in built}
    for name in present:
        if name.rsplit(":", 1)[0] in repositories and name not in current:
            remove(name)


def _target(root: Path, target: str, image: str, base: str, out: Path, progress: Progress) -> Built:
    started = time.monotonic()
    archive = out / f"{target}-{image.rsplit(':', 1)[1]}.tar"
    cached = archive.is_file()
    if not cached:
        progress(f"building {image} (target {target} of {root / 'Dockerfile'})")
        run_logged(
            [
                "buildah",
                "build",
                "--layers",
                # RUN on the host's network: buildah's own (cni-podman0) would claim
                # 10.88.0.0/16 and stay behind.
                "--network=host",
                f"--target={target}",
                f"--build-arg=BASE={base}",
                f"--tag={image}",
                str(root),
            ],
            target,
            progress,
            steps="[",
        )
        partial = archive.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        # Uncompressed: the node unpacks it at once, and gzip of GBs costs minutes.
        buildah("push", "--quiet", "--disable-compression", image, f"oci-archive:{partial}:{image}")
        partial.rename(archive)
    size = archive.stat().st_size / 2**20
    seconds = time.monotonic() - started
    progress(
        f"{image}: {size:,.0f} MiB" + (" (cached)" if cached else f", built in {seconds:.0f}s")
    )
    return Built(target, image, str(archive), round(size, 1))


def load_images(ctr: list[str], built: list[Built], progress: Progress) -> None:
    """Import the archives into a containerd (``ctr``: its command line, namespace k8s.io)
    unless it holds the image already."""
    listed = subprocess.run([*ctr, "images", "ls", "--quiet"], capture_output=True, text=True)
    present = set(listed.stdout.split())
    _forget_older(
        built,
        sorted(present),
        lambda name: subprocess.run([*ctr, "images", "rm", name], capture_output=True, check=False),
    )
    for image in built:
        if image.image in present:
            continue
        started = time.monotonic()
        done = subprocess.run(
            [*ctr, "images", "import", image.archive], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"ctr images import {image.archive}: {done.stderr.strip()}")
        progress(f"{image.image}: loaded into the node in {time.monotonic() - started:.0f}s")
