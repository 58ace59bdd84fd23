"""Start time (cached binaries) and memory of the local control plane, on this machine.

Runs a throwaway cluster beside any running one, ``--runs`` times, and prints the figures
with the machine they were measured on. ``--real-node`` measures it with the real node (one
per machine: no other local cluster may be running). Usage:
python bench/control_plane.py [--runs 3] [--real-node]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from fragrance_dev.cluster import Layout, LocalCluster
from fragrance_dev.cluster.processes import recorded
from fragrance_dev.cluster.toolchain import ensure_tools


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settle", type=float, default=15.0, help="seconds idle before RSS")
    parser.add_argument("--real-node", action="store_true", help="with the real node")
    args = parser.parse_args()

    root = Layout.default().root
    ensure_tools(Layout(root), progress=print)  # building is not what is measured
    starts: list[float] = []
    memory: dict[str, list[float]] = {}
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="fragrance-bench-") as tmp:
            layout = Layout(root, state_dir=Path(tmp) / "cluster")
            cluster = LocalCluster(layout, lambda _: None, real_node=args.real_node)
            began = time.monotonic()
            cluster.up()
            starts.append(time.monotonic() - began)
            try:
                time.sleep(args.settle)  # let the processes reach their idle footprint
                for process in recorded(cluster.layout.state / "pids"):
                    memory.setdefault(process.name, []).append(rss_mib(process.pid))
            finally:
                cluster.down(quiet=True)
        nodes = "4 fake + the real node" if args.real_node else "4 fake nodes"
        print(f"run {run + 1}: up ({nodes} Ready, CRDs established) in {starts[-1]:.1f}s")

    print("\nmachine:", json.dumps(machine()))
    print(f"\ncontrol plane start, cached binaries ({args.runs} runs):")
    print(
        f"  median {statistics.median(starts):.1f}s  min {min(starts):.1f}s  max {max(starts):.1f}s"
    )
    print(f"\nresident memory after {args.settle:.0f}s idle (median of runs):")
    total = 0.0
    for name, values in sorted(memory.items()):
        value = statistics.median(values)
        total += value
        print(f"  {name:<25} {value:7.1f} MiB")
    print(f"  {'total':<25} {total:7.1f} MiB")


if __name__ == "__main__":
    main()
