"""The node's network on this machine: a bridge the project makes (the pods' gateway and the
node's address), forwarding on, and everything undone at the end: CNI's network namespaces,
its address leases, kube-proxy's and the portmap plugin's iptables chains."""

from __future__ import annotations

import contextlib
import ipaddress
import shlex
import shutil
import subprocess
from pathlib import Path

from .config import BRIDGE, NODE_IP, POD_CIDR

FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
NETNS = Path("/var/run/netns")
LEASES = Path("/var/lib/cni/networks/fragrance")  # host-local's, named after the network
PREFIXES = ("KUBE-", "CNI-")  # the kubelet's, kube-proxy's and the portmap plugin's chains
TABLES = [(b, t) for b in ("iptables", "ip6tables") for t in ("nat", "filter", "mangle")]


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


def _claimed(cidr: str) -> list[str]:
    """Other interfaces with an address inside ``cidr``: the pods' replies would go there."""
    network = ipaddress.ip_network(cidr)
    found = []
    for line in _ip("-o", "-4", "addr", "show").stdout.splitlines():
        fields = line.split()
        device, address = fields[1], ipaddress.ip_interface(fields[3])
        if device != BRIDGE and address.network.overlaps(network):
            found.append(f"{device} ({address})")
    return found


def up() -> None:
    """Make the bridge and turn forwarding on (a Service's DNAT back to a pod on the same
    bridge is forwarded)."""
    if claimed := _claimed(POD_CIDR):
        raise NetworkError(
            f"the pod network {POD_CIDR} is taken by {', '.join(claimed)}: remove it "
            f"(ip link delete <name>) or start a cluster without the real node "
            f"(FRAGRANCE_REAL_NODE=0)"
        )
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
    for binary, table in TABLES:
        _remove_chains(binary, table)
    _ip("link", "delete", BRIDGE, check=False)
    if forwarding is not None:
        with contextlib.suppress(OSError):
            FORWARD.write_text(forwarding + "\n")


def _ours(binary: str, table: str) -> list[str]:
    """The ``-S`` lines of ``table`` that name a chain of ours (``KUBE-*``, ``CNI-*``)."""
    listed = subprocess.run(
        [binary, "-t", table, "-S"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    return [line for line in listed if any(f" {prefix}" in line for prefix in PREFIXES)]


def leftovers() -> list[str]:
    """What of the node's network is still on this machine (empty: nothing)."""
    found = [f"bridge {BRIDGE}"] if _ip("link", "show", BRIDGE, check=False).returncode == 0 else []
    for binary, table in TABLES:
        found += [f"{binary} -t {table} {rule}" for rule in _ours(binary, table)]
    return found


def _remove_chains(binary: str, table: str) -> None:
    """Empty our chains of ``table``, drop the jumps to them, then the chains themselves."""
    listed = _ours(binary, table)
    chains = [line.split()[1] for line in listed if line.startswith("-N ")]
    for chain in chains:
        subprocess.run([binary, "-t", table, "-F", chain], check=False)
    for rule in listed:
        if rule.startswith("-A ") and rule.split()[1] not in chains:
            subprocess.run([binary, "-t", table, "-D", *shlex.split(rule)[1:]], check=False)
    for chain in chains:
        subprocess.run([binary, "-t", table, "-X", chain], check=False)
