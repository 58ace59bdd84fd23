"""Start and stop the real node: containerd, its images, the kubelet, kube-proxy, CoreDNS.

The cluster calls ``prepare`` before the control plane starts (the bridge the apiserver
binds), ``start`` once it is up, ``drain`` before it stops the processes and ``clean`` after:
the pods' containers, their network namespaces, mounts and iptables chains, the bridge and
the forwarding setting go with the cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import config, network, oci
from .config import NODE_NAME, NodePaths

Launch = Callable[[str, list[str]], None]
Poll = Callable[[Callable[[], bool], str, float], None]
Kubectl = Callable[..., subprocess.CompletedProcess[str]]

PACKAGES = {  # what the node needs from the distribution (Debian's package names)
    "containerd": "containerd",
    "runc": "runc",
    "ctr": "containerd",
    "iptables": "iptables",
    "ip": "iproute2",
}
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")
#: Keeps the project's other workloads (images no node holds) off the real node.
TAINT = "fragrance.ai/real-node=true:NoSchedule"


def missing() -> list[str]:
    """Why this machine cannot run the node (empty: it can)."""
    reasons = [
        f"{tool} (apt package {package})"
        for tool, package in PACKAGES.items()
        if shutil.which(tool) is None
    ]
    if any(not Path("/usr/lib/cni", p).is_file() for p in CNI_PLUGINS):
        reasons.append("the CNI plugins in /usr/lib/cni (apt package containernetworking-plugins)")
    if os.geteuid() != 0:
        reasons.append("root (the node makes a bridge and runs containers)")
    return reasons


@dataclass
class RealNode:
    paths: NodePaths
    launch: Launch
    poll: Poll
    kubectl: Kubectl

    @property
    def _state(self) -> Path:
        return self.paths.root / "node.json"

    def prepare(self) -> None:
        """Before the control plane starts: the bridge, whose address the apiserver binds."""
        self.paths.root.mkdir(parents=True, exist_ok=True)
        # Written before anything changes: a start that fails halfway is undone all the same.
        state = {"forwarding": network.forwarding(), "namespaces": sorted(network.namespaces())}
        self._state.write_text(json.dumps(state))
        network.up()

    def start(self, tools: dict[str, Path], ca: Path, kubeconfigs: dict[str, Path],
              ports: dict[str, int]) -> None:  # fmt: skip
        paths = self.paths
        for directory in (paths.containerd, paths.cni_conf, paths.kubelet, paths.images):
            directory.mkdir(parents=True, exist_ok=True)
        (paths.cni_conf / "10-fragrance.conflist").write_text(config.cni_conflist())
        containerd_conf = paths.containerd / "config.toml"
        containerd_conf.write_text(config.containerd_toml(paths))
        self.launch("containerd", [_which("containerd"), f"--config={containerd_conf}"])
        self.poll(lambda: self._ctr("version").returncode == 0, "containerd", 30)
        self._images(tools)

        kubelet_conf = paths.kubelet / "config.yaml"
        kubelet_conf.write_text(yaml.safe_dump(config.kubelet_config(paths, ca, ports)))
        argv = config.kubelet_args(tools["kubelet"], paths, kubelet_conf, kubeconfigs["kubelet"])
        self.launch("kubelet", [*argv, f"--register-with-taints={TAINT}"])
        proxy_conf = paths.root / "kube-proxy.yaml"
        proxy_conf.write_text(
            yaml.safe_dump(config.kube_proxy_config(kubeconfigs["kube-proxy"], ports))
        )
        self.launch("kube-proxy", [str(tools["kube-proxy"]), f"--config={proxy_conf}"])
        corefile = paths.root / "Corefile"
        corefile.write_text(config.corefile(kubeconfigs["admin"], ports))
        self.launch("coredns", [str(tools["coredns"]), "-conf", str(corefile)])
        self.poll(self._node_ready, f"node {NODE_NAME} to be Ready", 120)

    def _images(self, tools: dict[str, Path]) -> None:
        """The sandbox's pause and the smoke-test server, written and imported here."""
        for name, binary, entrypoint in (
            (config.PAUSE_IMAGE, tools["pause"], ["/pause"]),
            (config.ECHO_IMAGE, tools["echo"], ["/echo"]),
        ):
            archive = self.paths.images / (name.rsplit("/", 1)[-1].replace(":", "-") + ".tar")
            oci.write_image(archive, name, {entrypoint[0]: binary}, entrypoint, user="65532")
            imported = self._ctr("images", "import", str(archive))
            if imported.returncode != 0:
                raise RuntimeError(f"ctr images import {archive}: {imported.stderr.strip()}")

    def _node_ready(self) -> bool:
        got = self.kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
        if got.returncode != 0:
            return False
        conditions = json.loads(got.stdout).get("status", {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def drain(self) -> None:
        """Before the control plane stops: the node's pods deleted, their containers gone."""
        if not self.paths.socket.exists():
            return
        self.kubectl(
            "delete", "pods", "--all-namespaces", "--force", "--grace-period=0",
            f"--field-selector=spec.nodeName={NODE_NAME}", "--wait=false", check=False,
        )  # fmt: skip
        try:
            self.poll(lambda: not self._tasks(), "the node's containers to stop", 30)
        except Exception:  # the kubelet may be gone: kill what is left ourselves
            for task in self._tasks():
                self._ctr("tasks", "kill", "--signal", "SIGKILL", task)

    def clean(self, kube_proxy: Path | None) -> None:
        """After every process stopped: what the pods and the node left on the machine.
        Only a cluster that started the node does this (its state says what it changed)."""
        for pid in _shims(self.paths.socket):
            with contextlib.suppress(ProcessLookupError):  # gone since it was listed
                os.kill(pid, signal.SIGKILL)
        for mount in _mounts_under(self.paths.root):
            subprocess.run(["umount", "-l", mount], check=False)
        if not self._state.is_file():
            return
        state = json.loads(self._state.read_text())
        if kube_proxy is not None and kube_proxy.is_file():
            subprocess.run([str(kube_proxy), "--cleanup"], capture_output=True, check=False)
        network.down(state.get("forwarding"), set(state.get("namespaces", [])))
        self._state.unlink()

    def leftovers(self) -> list[str]:
        """What of the node is still on this machine after ``clean`` (empty: nothing)."""
        shims = [f"containerd-shim (pid {pid})" for pid in _shims(self.paths.socket)]
        mounts = [f"mount {point}" for point in _mounts_under(self.paths.root)]
        return [*shims, *mounts, *network.leftovers()]

    def _tasks(self) -> list[str]:
        """The containers still running (stopped ones go with containerd's state)."""
        listed = self._ctr("tasks", "ls")
        rows = [line.split() for line in listed.stdout.splitlines()[1:]]
        return [row[0] for row in rows if len(row) >= 3 and row[2] == "RUNNING"]

    def ctr(self) -> list[str]:
        """The command line of ``ctr`` for the node's containerd, in the kubelet's namespace."""
        return [_which("ctr"), f"--address={self.paths.socket}", "--namespace=k8s.io"]

    def running(self) -> bool:
        return self.paths.socket.exists() and self._ctr("version").returncode == 0

    def _ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [*self.ctr(), *args]
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)


def _which(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise RuntimeError(f"{tool} is missing: install apt package {PACKAGES[tool]}")
    return found


def _shims(socket: Path) -> list[int]:
    """containerd-shim processes serving our containerd (they outlive it)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline and b"containerd-shim" in cmdline[0] and str(socket).encode() in cmdline:
            found.append(int(proc.name))
    return found


def _mounts_under(root: Path) -> list[str]:
    """Mount points below ``root``, deepest first."""
    prefix = str(root.resolve()) + "/"
    points = [
        line.split()[1]
        for line in Path("/proc/self/mounts").read_text().splitlines()
        if line.split()[1].startswith(prefix)
    ]
    return sorted(points, key=len, reverse=True)
