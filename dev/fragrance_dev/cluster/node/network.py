"""The node's network on this machine: a bridge the project makes (the pods' gateway and the
node's address), forwarding on, and everything undone at the end: CNI's network namespaces,
its address leases, kube-proxy's and the portmap plugin's iptables chains."""

from __future__ import annotations

import contextlib
import shlex
import shutil
import subprocess
from pathlib import Path

from .config import BRIDGE, NODE_IP, POD_CIDR

FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
NETNS = Path("/var/run/netns")
LEASES = Path("/var/lib/cni/networks/fragrance")  # host-local's, named after the network


class NetworkError(RuntimeError):
    pass


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def namespaces() -> set[str]:
    """The CNI network namespaces on this machine now."""
    return {p.name for p in NETNS.glob("cni-*")} if NETNS.is_dir() else set()


def forwarding() -> str:
    return FORWARD.read_text().strip()


def up() -> None:
    """Make the bridge and turn forwarding on (a Service's DNAT back to a pod on the same
    bridge is forwarded)."""
    if _ip("link", "show", BRIDGE, check=False).returncode != 0:
        _ip("link", "add", BRIDGE, "type", "bridge")
    prefix = POD_CIDR.split("/")[1]
    _ip("addr", "replace", f"{NODE_IP}/{prefix}", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    FORWARD.write_text("1\n")


def down(forwarding: str | None, before: set[str]) -> None:
    """Undo ``up`` and what the pods left; ``before``: namespaces that were not ours."""
    for name in namespaces() - before:
        _ip("netns", "delete", name, check=False)
    shutil.rmtree(LEASES, ignore_errors=True)
    # kube-proxy --cleanup takes its own; the kubelet's (KUBE-FIREWALL, the canaries) and
    # the portmap plugin's stay unless removed here.
    for binary in ("iptables", "ip6tables"):
        for table in ("nat", "filter", "mangle"):
            for prefix in ("KUBE-", "CNI-"):
                _flush_chains(binary, table, prefix)
    _ip("link", "delete", BRIDGE, check=False)
    if forwarding is not None:
        with contextlib.suppress(OSError):
            FORWARD.write_text(forwarding + "\n")


def chains(binary: str, table: str, prefix: str) -> list[str]:
    """The rules of ``table`` that name a chain ``prefix*`` (``-S`` lines)."""
    listed = subprocess.run(
        [binary, "-t", table, "-S"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    return [line for line in listed if f" {prefix}" in line]


def leftovers() -> list[str]:
    """What of the node's network is still on this machine (empty: nothing)."""
    found = [f"bridge {BRIDGE}"] if _ip("link", "show", BRIDGE, check=False).returncode == 0 else []
    for binary in ("iptables", "ip6tables"):
        for table in ("nat", "filter", "mangle"):
            for prefix in ("KUBE-", "CNI-"):
                found += [f"{binary} -t {table} {rule}" for rule in chains(binary, table, prefix)]
    return found


def _flush_chains(binary: str, table: str, prefix: str) -> None:
    """Remove ``table``'s chains named ``prefix*`` and the jumps to them."""
    listed = chains(binary, table, prefix)
    jumps = [line for line in listed if line.startswith("-A ") and f"-j {prefix}" in line]
    for rule in jumps:
        subprocess.run([binary, "-t", table, "-D", *shlex.split(rule)[1:]], check=False)
    for line in listed:
        if line.startswith(f"-N {prefix}"):
            chain = line.split()[1]
            subprocess.run([binary, "-t", table, "-F", chain], check=False)
    for line in listed:
        if line.startswith(f"-N {prefix}"):
            subprocess.run([binary, "-t", table, "-X", line.split()[1]], check=False)
