"""``make models``: generate the corpus and train the three models, with progress.

python -m fragrance_serving.models.train --out models --steps 1200
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from fragrance_serving.guards.json_guard import check
from fragrance_serving.models import charlm, corpus

PROBES = ("a bold woody scent for evening parties", "soft floral fragrance for the office")


def train_all(
    out: Path, steps: int | dict[str, int], corpus_size: int = 4000, seed: int = 7
) -> dict[str, Path]:
    """Train every size; ``steps`` for all, or per size name."""
    lines = corpus.lines(corpus_size, seed)
    paths: dict[str, Path] = {}
    for size in charlm.SIZES.values():
        started = time.perf_counter()
        total = steps if isinstance(steps, int) else steps[size.name]

        def progress(
            step: int, loss: float, name: str = size.name, t0: float = started, of: int = total
        ) -> None:
            elapsed = time.perf_counter() - t0
            print(f"  {name}: step {step}/{of} loss {loss:.3f} ({elapsed:.0f}s)", flush=True)

        print(f"training {size.name} (hidden {size.hidden}, {size.layers} layer(s))", flush=True)
        model = charlm.train(size, lines, total, seed, progress)
        paths[size.name] = out / f"{size.name}.pt"
        charlm.save(model, paths[size.name])
        generator = torch.Generator().manual_seed(seed)
        valid = sum(
            check(charlm.sample(model, probe, generator=generator)).brief is not None
            for probe in PROBES * 5
        )
        print(
            f"  {size.name}: {model.parameters_count()} parameters, "
            f"{valid}/{len(PROBES) * 5} sampled briefs schema-valid, saved {paths[size.name]}",
            flush=True,
        )
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("models"))
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    train_all(args.out, args.steps)
    print(f"done in {time.perf_counter() - started:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
