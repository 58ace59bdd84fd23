"""The operator under tracemalloc, for the scale benchmark's memory attribution only.

``python bench/traced_operator.py OUT`` runs ``fragrance operator``; each SIGUSR2 writes
the largest live allocations, by the line that made them and by file, and what grew since
the previous signal, to ``OUT.<n>`` (n = 1, 2, ...). Tracing slows the operator and adds
its own memory: read the shares and the growth, not the RSS, of such a run.
"""

from __future__ import annotations

import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType


class Dumps:
    def __init__(self, out: Path) -> None:
        self.out, self.count = out, 0
        self.previous: tracemalloc.Snapshot | None = None

    def dump(self) -> None:
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        lines = snapshot.statistics("lineno")
        total = sum(s.size for s in lines)
        text = [f"traced: {total / 2**20:.1f} MiB in {sum(s.count for s in lines)} blocks", ""]
        text += ["by file:"] + [
            f"{s.size / 2**20:8.2f} MiB {s.count:9d}  {s.traceback[0].filename}"
            for s in snapshot.statistics("filename")[:40]
        ]
        text += ["", "by line:"] + [
            f"{s.size / 2**20:8.2f} MiB {s.count:9d}  {s.traceback[0]}" for s in lines[:60]
        ]
        if self.previous is not None:
            grown = snapshot.compare_to(self.previous, "lineno")[:40]
            text += ["", "grown since the previous dump:"] + [
                f"{d.size_diff / 2**20:+8.2f} MiB {d.count_diff:+9d}  {d.traceback[0]}"
                for d in grown
            ]
        self.previous = snapshot
        self.count += 1
        target = Path(f"{self.out}.{self.count}")
        part = target.with_suffix(".part")  # the benchmark waits for the file to exist
        part.write_text("\n".join(text) + "\n")
        part.rename(target)


def main() -> None:
    dumps = Dumps(Path(sys.argv[1]))
    tracemalloc.start()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        dumps.dump()

    signal.signal(signal.SIGUSR2, on_signal)
    from fragrance_operator.cli import main as cli

    sys.argv = [sys.argv[0], "operator"]
    cli()


if __name__ == "__main__":
    main()
