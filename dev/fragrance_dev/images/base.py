"""A Debian base image made here, from this machine's own apt sources and trust store.

No public registry is reachable from these machines, so the Dockerfile's public base cannot
be pulled: mmdebstrap makes the same distribution from the apt mirror the machine already
uses, and the machine's CA bundle goes in so that pip inside a build trusts what the host
trusts (the path to PyPI may be inspected by a proxy with its own CA).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from .inputs import base_digest
from .run import Progress, buildah, run_logged

PACKAGES = ("python3", "python3-venv", "ca-certificates")
TRUST = Path("/etc/ssl/certs/ca-certificates.crt")
REPOSITORY = "localhost/fragrance/base"


def apt_sources() -> list[Path]:
    """The machine's apt source files, one-line (.list) and deb822 (.sources) alike."""
    folder = Path("/etc/apt/sources.list.d")
    listed = sorted([*folder.glob("*.list"), *folder.glob("*.sources")])
    found = [Path("/etc/apt/sources.list"), *listed]
    return [path for path in found if path.is_file() and path.stat().st_size > 0]


def suite() -> str:
    """This machine's Debian release (e.g. bookworm): the base matches the host's apt."""
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip('"')
    raise RuntimeError("/etc/os-release names no VERSION_CODENAME: not a Debian machine?")


def ensure_base(progress: Progress) -> str:
    """The base's image name, made unless an image of the same inputs exists."""
    sources = apt_sources()
    if not sources:
        raise RuntimeError("no apt sources in /etc/apt: the base is made from them")
    name = f"{REPOSITORY}:{base_digest(sources, PACKAGES, TRUST)[:12]}"
    if buildah("images", "--quiet", name, check=False).returncode == 0:
        return name
    progress(f"making the base {name} with mmdebstrap ({suite()}, {', '.join(PACKAGES)})")
    with tempfile.TemporaryDirectory(prefix="fragrance-base-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        run_logged(
            [
                "mmdebstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                "--skip=output/dev", "--mode=root", suite(), str(rootfs),
                *map(str, sources),
            ],
            "mmdebstrap",
            progress,
            env={**os.environ, "SOURCE_DATE_EPOCH": "0"},
        )  # fmt: skip
        container = buildah("from", "scratch").stdout.strip()
        try:
            buildah("add", container, str(rootfs), "/")
            buildah("copy", container, str(TRUST), str(TRUST))
            buildah("config", "--env", f"PIP_CERT={TRUST}", "--cmd", "/bin/bash", container)
            buildah("commit", "--quiet", container, name)
        finally:
            subprocess.run(["buildah", "rm", container], capture_output=True, check=False)
    return name
