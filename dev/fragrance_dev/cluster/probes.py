"""Is a component up: the apiserver's /readyz (as the admin), a plain /health, a condition."""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from .pki import CLIENTS, CertificateAuthority


def admin_context(ca: CertificateAuthority) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca.pair.cert))
    admin = ca.client(*CLIENTS[0])
    context.load_cert_chain(str(admin.cert), str(admin.key))
    return context


def ready(server: str, context: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(f"{server}/readyz", context=context, timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def healthy(url: str, context: Callable[[], ssl.SSLContext]) -> bool:
    """HTTPS: the apiserver's readiness; plain HTTP: any 200 (etcd's /health)."""
    if url.startswith("https://"):
        return ready(url, context())
    return answers(url)


def answers(url: str) -> bool:
    """A plain HTTP endpoint answers 200 (etcd's /health, Traefik's /ping, KubeRay's /readyz)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def poll(condition: Callable[[], bool], timeout: float, every: float = 0.2) -> bool:
    """Whether ``condition`` held within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


def all_have(items: list[dict[str, Any]], condition: str, expected: int | None) -> bool:
    """Every object (and at least ``expected`` of them) has ``condition`` True; objects with
    no status yet count as not having it."""
    if expected is not None and len(items) < expected:
        return False
    return all(
        any(
            c.get("type") == condition and c.get("status") == "True"
            for c in item.get("status", {}).get("conditions") or []
        )
        for item in items
    )
