"""Kubeconfig files for the local control plane's users and ServiceAccounts."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from .layout import Layout
from .pki import CLIENTS, CertificateAuthority

CLUSTER_NAME = "fragrance-local"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(
    server: str,
    ca_pem: bytes,
    user: str,
    *,
    cert_pem: bytes | None = None,
    key_pem: bytes | None = None,
    token: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """A kubeconfig with one cluster, one user (certificate or bearer token), one context."""
    if token is None and (cert_pem is None or key_pem is None):
        raise ValueError("a kubeconfig user needs a token or a client certificate and key")
    credentials: dict[str, str] = (
        {"token": token}
        if token is not None
        else {
            "client-certificate-data": _b64(cert_pem or b""),
            "client-key-data": _b64(key_pem or b""),
        }
    )
    context: dict[str, str] = {"cluster": CLUSTER_NAME, "user": user}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CLUSTER_NAME,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": user, "context": context}],
        "current-context": user,
    }


def write(path: Path, config: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def for_clients(ca: CertificateAuthority, server: str, layout: Layout) -> dict[str, Path]:
    """One kubeconfig per control-plane client (the admin's at ``layout.kubeconfig``)."""
    paths = {}
    for stem, user, group in CLIENTS:
        pair = ca.client(stem, user, group)
        path = (
            layout.kubeconfig if stem == "admin" else layout.state / "kubeconfigs" / f"{stem}.yaml"
        )
        paths[stem] = write(
            path,
            kubeconfig(
                server,
                ca.pem,
                user,
                cert_pem=pair.cert.read_bytes(),
                key_pem=pair.key.read_bytes(),
            ),
        )
    return paths


def write_client_wrapper(path: Path, binary: Path, config: Path) -> None:
    """``.cluster/bin/kubectl`` talks to the local cluster unless told otherwise by a flag."""
    path.unlink(missing_ok=True)
    path.write_text(f'#!/bin/sh\nKUBECONFIG="{config}" exec "{binary}" "$@"\n')
    path.chmod(0o755)
