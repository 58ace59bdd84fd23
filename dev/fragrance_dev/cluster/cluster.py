"""The local control plane: etcd, kube-apiserver, controller-manager, scheduler and kwok.

What controller-runtime's envtest and kwokctl do, in the project's own code: real binaries on
loopback ports, RBAC on, client certificates from a CA of its own, fake nodes from kwok so
that Deployments really get scheduled pods that become Running and Ready.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from . import components, gateway, kubeconfig, kuberay, probes, processes, thirdparty, toolchain
from .layout import Layout
from .node import runtime
from .node.config import NODE_IP, NodePaths
from .node.runtime import RealNode
from .nodes import DEFAULT_NODES, node_manifest
from .pki import CLIENTS, CertificateAuthority, service_account_keys

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ClusterInfo:
    server: str
    kubeconfig: str
    bin_dir: str
    ports: dict[str, int]
    started_in_seconds: float


class ClusterError(RuntimeError):
    pass


class LocalCluster:
    def __init__(
        self,
        layout: Layout | None = None,
        progress: Progress = print,
        real_node: bool | None = None,
    ) -> None:
        self.layout = layout or Layout.default()
        self.progress = progress
        # One real node per machine (its bridge, its kube-proxy's chains): a second cluster
        # beside the default one runs kwok's nodes only. None: $FRAGRANCE_REAL_NODE (default on).
        self.real_node = (
            real_node if real_node is not None else os.environ.get("FRAGRANCE_REAL_NODE") != "0"
        )

    # -- public API ------------------------------------------------------------------------

    def running(self) -> ClusterInfo | None:
        """The cluster's details if all its processes are alive and it answers /readyz."""
        state = self.layout.state_file
        if not state.is_file():
            return None
        info = ClusterInfo(**json.loads(state.read_text()))
        recorded = processes.recorded(self._pid_dir)
        if not recorded or not all(p.alive() for p in recorded):
            return None
        return info if self._ready(info.server) else None

    def up(self) -> ClusterInfo:
        """Start the cluster, or reuse the running one. Safe to call from two processes."""
        with self._lock():
            existing = self.running()
            if existing and self.real_node and not self.node().paths.socket.exists():
                self.progress("the running cluster has no real node: starting a new one")
                existing = None
            if existing:
                self.progress(f"local control plane already running at {existing.server}")
                # Serve the CRDs as the models generate them now (after a `make crds`).
                self._apply_files(sorted(self.layout.crds.glob("*.yaml")))
                return existing
            if self.real_node and (why := runtime.missing()):
                raise ClusterError(
                    "the real node needs " + "; ".join(why) + " (FRAGRANCE_REAL_NODE=0: "
                    "a cluster of kwok's fake nodes only)"
                )
            tools = toolchain.ensure_tools(self.layout, self.progress)
            self.down(quiet=True)
            started = time.monotonic()
            try:
                info = self._start(tools, started)
            except BaseException:  # Ctrl-C included: never leave half a cluster running
                self.progress(f"start failed; logs are in {self.layout.logs}")
                self.down(quiet=True, keep_logs=True)
                raise
            self.layout.state_file.write_text(json.dumps(asdict(info), indent=2))
        self.progress(f"local control plane up in {info.started_in_seconds:.1f}s: {info.server}")
        return info

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # Beside the state directory, which down() empties.
        path = self.layout.state.with_name(self.layout.state.name + ".lock")
        with path.open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def down(self, quiet: bool = False, keep_logs: bool = False) -> None:
        """Stop every process of the cluster (newest first) and remove its state."""
        recorded = processes.recorded(self._pid_dir) if self._pid_dir.is_dir() else []
        node = self.node()
        if any(p.name == "kube-apiserver" and p.alive() for p in recorded):
            node.drain()  # while the apiserver can still delete the node's pods
        for process in reversed(sorted(recorded, key=lambda p: _START_ORDER.index(p.name))):
            processes.stop(process)
        node.clean(toolchain.binary_path(self.layout, "kube-proxy"))
        if not quiet:
            self.progress(f"stopped {len(recorded)} processes")
        self.layout.clear(keep_logs)

    def restart(self, *names: str, down_for: float = 0.0) -> float:
        """Stop the named processes (e.g. ``"kube-apiserver", "etcd"``), wait ``down_for``
        seconds, start them again with the command lines they had and wait until the apiserver
        answers /readyz; the seconds it was gone. Chaos tests' fault: what every other
        component and client must ride out."""
        info = self.running()
        if info is None:
            raise ClusterError("no running cluster to restart a part of")
        chosen = [p for p in processes.recorded(self._pid_dir) if p.name in names]
        if {p.name for p in chosen} != set(names):
            raise ClusterError(f"not processes of this cluster: {sorted(names)}")
        argvs = {p.name: processes.command_line(p) for p in chosen}
        order = sorted(chosen, key=lambda p: _START_ORDER.index(p.name))
        gone = time.monotonic()
        for process in reversed(order):
            processes.stop(process)
        time.sleep(down_for)  # the outage itself: nothing to wait for
        for process in order:
            self._launch(process.name, argvs[process.name])
        self._poll(lambda: self._ready(info.server), "kube-apiserver after a restart", 60)
        return time.monotonic() - gone

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        kubeconfig_path: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        config = kubeconfig_path or self.layout.kubeconfig
        result = subprocess.run(
            [
                str(self.layout.bin / "kubectl"),
                f"--kubeconfig={config}",
                # Our own discovery cache, so a user's kubectl never sees one taken before the
                # CRDs were served.
                f"--cache-dir={self.layout.state / 'kube-cache'}",
                *args,
            ],
            input=input,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def wait_all(
        self, resource: str, condition: str, expected: int | None, timeout: float = 60
    ) -> None:
        """Wait until every object of ``resource`` (and at least ``expected``) has
        ``condition`` True. Unlike ``kubectl wait``, tolerates objects with no status yet."""

        def met() -> bool:
            listed = self.kubectl("get", resource, "-o", "json", check=False)
            return listed.returncode == 0 and probes.all_have(
                json.loads(listed.stdout)["items"], condition, expected
            )

        self._poll(met, f"every {resource} to be {condition}", timeout)

    def mint_kubeconfig(
        self, namespace: str, service_account: str, path: Path, duration: str = "24h"
    ) -> Path:
        """A kubeconfig that acts as ``namespace/service_account`` (a TokenRequest token)."""
        info = self.running()
        if info is None:
            raise ClusterError("the local control plane is not running")
        token = self.kubectl(
            "create", "token", service_account, "-n", namespace, f"--duration={duration}"
        ).stdout.strip()
        user = f"system:serviceaccount:{namespace}:{service_account}"
        config = kubeconfig.kubeconfig(
            info.server, self._ca().pem, user, token=token, namespace=namespace
        )
        return kubeconfig.write(path, config)

    # -- starting ----------------------------------------------------------------------------

    @property
    def _pid_dir(self) -> Path:
        return self.layout.state / "pids"

    def node(self) -> RealNode:
        paths = NodePaths(self.layout.state / "node")
        return RealNode(paths, self._launch, self._poll, self.kubectl)

    def _ca(self) -> CertificateAuthority:
        return CertificateAuthority(self.layout.pki)

    def _start(self, tools: dict[str, Path], started: float) -> ClusterInfo:
        layout = self.layout
        for directory in (layout.state, layout.logs, layout.bin):
            directory.mkdir(parents=True, exist_ok=True)
        names = components.PORT_NAMES
        ports = dict(zip(names, processes.free_ports(len(names)), strict=True))
        # With the real node, the apiserver listens on the node's bridge, where pods reach it
        # (the `kubernetes` Service's endpoint); kwok's nodes only: on loopback.
        address = NODE_IP if self.real_node else "127.0.0.1"
        if self.real_node:
            self.node().prepare()
        server = f"https://{address}:{ports['apiserver']}"
        ca = self._ca()
        serving = ca.serving("apiserver", components.APISERVER_HOSTS)
        sa = service_account_keys(layout.pki)
        configs = kubeconfig.for_clients(ca, server, layout)
        for name in ("kubectl", "helm"):
            kubeconfig.write_client_wrapper(layout.bin / name, tools[name], layout.kubeconfig)

        certs = components.Certificates(
            ca=ca.pair.cert,
            serving_cert=serving.cert,
            serving_key=serving.key,
            sa_public=sa.cert,
            sa_private=sa.key,
            directory=layout.pki,
            kubelet_client_cert=ca.client(*CLIENTS[0]).cert,
            kubelet_client_key=ca.client(*CLIENTS[0]).key,
        )

        self.progress(f"[{time.monotonic() - started:4.1f}s] starting etcd")
        self._launch("etcd", components.etcd(tools["etcd"], layout.state / "etcd", ports))
        self._wait(f"http://127.0.0.1:{ports['etcd']}/health", "etcd", 30)

        self.progress(f"[{time.monotonic() - started:4.1f}s] starting kube-apiserver")
        self._launch(
            "kube-apiserver", components.apiserver(tools["kube-apiserver"], ports, certs, address)
        )
        self._wait(server, "kube-apiserver", 60)

        self.progress(
            f"[{time.monotonic() - started:4.1f}s] starting controller-manager, scheduler, kwok"
        )
        self._launch(
            "kube-controller-manager",
            components.controller_manager(
                tools["kube-controller-manager"], configs["controller-manager"], ports, certs
            ),
        )
        self._launch(
            "kube-scheduler",
            components.scheduler(tools["kube-scheduler"], configs["scheduler"], ports),
        )
        self._launch("kwok", components.kwok(tools["kwok"], configs["kwok"], ports))

        self.progress(f"[{time.monotonic() - started:4.1f}s] registering nodes, installing CRDs")
        with ThreadPoolExecutor(max_workers=3) as pool:
            jobs = [
                pool.submit(self._apply_docs, [node_manifest(shape) for shape in DEFAULT_NODES]),
                pool.submit(self._apply_files, thirdparty.crd_files()),
                pool.submit(self._apply_files, sorted(layout.crds.glob("*.yaml"))),
            ]
            for job in jobs:
                job.result()
        self.wait_all("crd", "Established", expected=None)
        self.wait_all("node", "Ready", expected=len(DEFAULT_NODES))
        # Pods need their namespace's default ServiceAccount, made by the controller-manager.
        self._poll(
            lambda: self.kubectl("get", "serviceaccount/default", check=False).returncode == 0,
            "the default ServiceAccount",
            60,
        )
        if self.real_node:
            self.progress(
                f"[{time.monotonic() - started:4.1f}s] starting the real node "
                "(containerd, kubelet, kube-proxy, CoreDNS)"
            )
            self.node().start(tools, ca.pair.cert, configs, ports)
            # The data plane of the Gateway API, routing to the node's pods.
            self.progress(f"[{time.monotonic() - started:4.1f}s] starting the Gateway (Traefik)")
            gateway.start(
                tools["traefik"], layout.state, layout.kubeconfig, ports,
                self._launch, self._poll, self.kubectl,
            )  # fmt: skip
            # RayServices on the node's pods (only the real node runs Ray).
            self.progress(f"[{time.monotonic() - started:4.1f}s] starting KubeRay's operator")
            kuberay.start(
                tools["kuberay-operator"], layout.kubeconfig, ports, self._launch, self._poll
            )
        return ClusterInfo(
            server=server,
            kubeconfig=str(layout.kubeconfig),
            bin_dir=str(layout.bin),
            ports=ports,
            started_in_seconds=round(time.monotonic() - started, 2),
        )

    def _launch(self, name: str, argv: list[str]) -> None:
        # The state dir in the command line is what later proves a pid is ours.
        if not any(str(self.layout.state) in arg for arg in argv):
            raise ClusterError(f"{name}'s command line must name {self.layout.state}")
        processes.start(name, argv, self.layout.logs, self._pid_dir, str(self.layout.state))

    def _apply_files(self, paths: Sequence[Path]) -> None:
        if not paths:
            return
        args = [arg for path in paths for arg in ("-f", str(path))]
        self.kubectl("apply", "--server-side", "--force-conflicts", *args)

    def _apply_docs(self, docs: list[dict[str, object]]) -> None:
        self.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(docs))

    def _ssl_context(self) -> ssl.SSLContext:
        return probes.admin_context(self._ca())

    def _ready(self, server: str) -> bool:
        return probes.ready(server, self._ssl_context())

    def _wait(self, url: str, what: str, timeout: float) -> None:
        self._poll(lambda: probes.healthy(url, self._ssl_context), what, timeout)

    def _poll(self, condition: Callable[[], bool], what: str, timeout: float) -> None:
        if not probes.poll(condition, timeout):
            raise ClusterError(
                f"{what} was not ready within {timeout:.0f}s; see {self.layout.logs}"
            )


_START_ORDER = [
    "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok",
    "containerd", "kubelet", "kube-proxy", "coredns", "traefik", "kuberay-operator",
]  # fmt: skip
