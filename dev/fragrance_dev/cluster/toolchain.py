"""Build the control plane's binaries from pinned Go modules, cached between runs.

Each tool lives in a Go module of its own under ``hack/tools``: the Kubernetes binaries need
``replace`` directives for the staging modules, and those must not leak into kwok or helm.
A binary is rebuilt only when its module's pins, its flags or the Go version change.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .layout import Layout

Progress = Callable[[str], None]
_REPORT_EVERY = 10.0  # seconds between progress lines of a build


def _module_version(go_mod: Path, module: str) -> str:
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", go_mod.read_text(), re.M)
    if not match:
        raise RuntimeError(f"{go_mod} does not pin {module}")
    return match.group(1)


def _prometheus_release(module_version: str) -> str:
    """Prometheus's Go module numbers release 3.16.0 as v0.316.0."""
    _, minor, patch = module_version.lstrip("v").split(".")
    return f"{int(minor) // 100}.{int(minor) % 100}.{patch}"


def _kube_ldflags(version: str) -> tuple[str, ...]:
    major, minor = version.lstrip("v").split(".")[:2]
    flags = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitCommit=0000000000000000000000000000000000000000",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
        ]
    return tuple(flags)


@dataclass(frozen=True)
class Tool:
    name: str
    module_dir: str
    package: str
    ldflags: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


def tools(layout: Layout) -> list[Tool]:
    kube_version = _module_version(layout.tools_src / "kube" / "go.mod", "k8s.io/kubernetes")
    helm_version = _module_version(layout.tools_src / "helm" / "go.mod", "helm.sh/helm/v3")
    kwok_version = _module_version(layout.tools_src / "kwok" / "go.mod", "sigs.k8s.io/kwok")
    prometheus_module = layout.tools_src / "prometheus" / "go.mod"
    prometheus_version = _prometheus_release(
        _module_version(prometheus_module, "github.com/prometheus/prometheus")
    )
    traefik_version = _module_version(
        layout.tools_src / "traefik" / "go.mod", "github.com/traefik/traefik/v3"
    )
    kube_major, kube_minor = kube_version.lstrip("v").split(".")[:2]
    kube = _kube_ldflags(kube_version)
    helm = (
        f"-X helm.sh/helm/v3/internal/version.version={helm_version}",
        "-X helm.sh/helm/v3/internal/version.gitTreeState=clean",
        *(
            f"-X helm.sh/helm/v3/pkg/{pkg}.k8sVersion{part}={value}"
            for pkg in ("lint/rules", "chartutil")
            for part, value in (("Major", kube_major), ("Minor", kube_minor))
        ),
    )
    return [
        Tool("kube-apiserver", "kube", "k8s.io/kubernetes/cmd/kube-apiserver", kube),
        Tool(
            "kube-controller-manager", "kube", "k8s.io/kubernetes/cmd/kube-controller-manager", kube
        ),
        Tool("kube-scheduler", "kube", "k8s.io/kubernetes/cmd/kube-scheduler", kube),
        Tool("kubectl", "kube", "./cmd/kubectl", kube),
        Tool("kubelet", "kube", "k8s.io/kubernetes/cmd/kubelet", kube),
        Tool("kube-proxy", "kube", "k8s.io/kubernetes/cmd/kube-proxy", kube),
        Tool(
            "kwok",
            "kwok",
            "sigs.k8s.io/kwok/cmd/kwok",
            (
                f"-X sigs.k8s.io/kwok/pkg/consts.Version={kwok_version}",
                f"-X sigs.k8s.io/kwok/pkg/consts.KubeVersion={kube_version}",
            ),
        ),
        Tool("helm", "helm", "helm.sh/helm/v3/cmd/helm", helm),
        Tool("etcd", "etcd", "go.etcd.io/etcd/server/v3"),
        Tool("coredns", "coredns", "."),
        # Debian's Prometheus lacks kubernetes_sd_configs; only that discovery is built in.
        Tool(
            "prometheus",
            "prometheus",
            "github.com/prometheus/prometheus/cmd/prometheus",
            (f"-X github.com/prometheus/common/version.Version={prometheus_version}",),
            ("remove_all_sd", "enable_kubernetes_sd"),
        ),
        # The Gateway API data plane that carries the canary split to the real node's pods.
        Tool(
            "traefik",
            "traefik",
            "github.com/traefik/traefik/v3/cmd/traefik",
            (f"-X github.com/traefik/traefik/v3/pkg/version.Version={traefik_version}",),
        ),
        # RayService and RayCluster, for the rayServe provider's releases on the real node.
        Tool("kuberay-operator", "kuberay", "github.com/ray-project/kuberay/ray-operator"),
        Tool("pause", "images", "./pause"),
        Tool("echo", "images", "./echo"),
    ]


def go_binary() -> str:
    go = shutil.which("go")
    if not go:
        raise RuntimeError("Go is needed to build the local control plane: install Go >= 1.24")
    return go


def _cache_key(layout: Layout, tool: Tool) -> str:
    module = layout.tools_src / tool.module_dir
    digest = hashlib.sha256()
    # The pins, and the module's own Go files (the node's small programs are written here).
    for path in [module / "go.mod", module / "go.sum", *sorted(module.rglob("*.go"))]:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    go_version = subprocess.run(
        [go_binary(), "version"], capture_output=True, text=True, check=True
    )
    digest.update(go_version.stdout.encode())
    digest.update("\0".join((tool.package, *tool.ldflags, *tool.tags)).encode())
    return digest.hexdigest()


def binary_path(layout: Layout, name: str) -> Path:
    return layout.tools_dir / "bin" / name


def _stamp_path(layout: Layout, name: str) -> Path:
    return layout.tools_dir / "stamps" / name


def is_current(layout: Layout, tool: Tool) -> bool:
    stamp = _stamp_path(layout, tool.name)
    return (
        binary_path(layout, tool.name).is_file()
        and stamp.is_file()
        and stamp.read_text() == _cache_key(layout, tool)
    )


class _BuildOutput:
    """What ``go build -v`` prints: one line per package compiled, then any errors."""

    def __init__(self) -> None:
        self.lines = 0
        self.tail: deque[str] = deque(maxlen=30)

    def read(self, stream: Iterable[str]) -> None:
        for line in stream:
            self.lines += 1
            self.tail.append(line.rstrip())


def build(layout: Layout, tool: Tool, progress: Progress) -> Path:
    """Build one tool, reporting packages compiled and time spent every few seconds."""
    out = binary_path(layout, tool.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    ldflags = " ".join(("-s", "-w", *tool.ldflags))
    cmd = [
        go_binary(),
        "build",
        "-v",
        "-trimpath",
        f"-tags={','.join(tool.tags)}",
        "-ldflags",
        ldflags,
        "-o",
        str(tmp),
        tool.package,
    ]
    env = {**os.environ, "CGO_ENABLED": "0"}
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=layout.tools_src / tool.module_dir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    output = _BuildOutput()
    reader = threading.Thread(target=output.read, args=(proc.stderr,), daemon=True)
    reader.start()
    next_report = started + _REPORT_EVERY
    while proc.poll() is None:
        time.sleep(0.5)
        if time.monotonic() >= next_report:
            next_report += _REPORT_EVERY
            elapsed = time.monotonic() - started
            progress(f"  {tool.name}: {output.lines} packages compiled, {elapsed:.0f}s")
    reader.join(timeout=5)
    if proc.returncode != 0:
        raise RuntimeError(
            f"go build of {tool.name} failed (exit {proc.returncode}) in "
            f"{layout.tools_src / tool.module_dir}:\n" + "\n".join(output.tail)
        )
    tmp.replace(out)
    stamp = _stamp_path(layout, tool.name)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(_cache_key(layout, tool))
    progress(f"  {tool.name}: built in {time.monotonic() - started:.0f}s")
    return out


def ensure_tools(layout: Layout, progress: Progress = print) -> dict[str, Path]:
    """Every tool's binary, building the missing or outdated ones first."""
    wanted = tools(layout)
    missing = [tool for tool in wanted if not is_current(layout, tool)]
    if missing:
        progress(
            f"building {len(missing)} of {len(wanted)} tools from pinned Go modules "
            "(a cold build takes 15-30 minutes on 2 cores; later runs reuse the cache)"
        )
    for index, tool in enumerate(missing, start=1):
        progress(f"[{index}/{len(missing)}] go build {tool.name}")
        build(layout, tool, progress)
    return {tool.name: binary_path(layout, tool.name) for tool in wanted}
