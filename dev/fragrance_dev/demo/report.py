"""The demo's ending: a summary table and a timeline picture (weight and the client's
measured share per version, errors, p95 by mode)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from fragrance_api.modes import MODES
from fragrance_dev.demo.client import Client

if TYPE_CHECKING:
    from fragrance_dev.demo.follow import Outcome, Timeline


def summary(outcomes: list[Outcome], client: Client) -> str:
    lines = ["", "version  outcome      time   gate decisions"]
    for o in outcomes:
        decisions = " ".join(o.decisions[-8:]) or "-"
        lines.append(f"{o.version:<8} {o.phase:<12} {o.seconds:>4.0f}s  {decisions}")
    counts = client.counts
    lines.append("")
    lines.append(f"client: {counts.sent} requests, {counts.lost} lost (no answer or no route)")
    for (track, status), n in sorted(counts.by_track.items()):
        lines.append(f"  {track:<7} HTTP {status or 'none':<4} {n}")
    return "\n".join(lines)


def as_planned(outcomes: list[Outcome], planned: dict[str, str], client: Client) -> bool:
    got = {o.version: o.phase for o in outcomes}
    return got == planned and client.counts.lost == 0


def title(outcomes: list[Outcome], planned: dict[str, str], client: Client) -> str:
    """What happened, in words: each version's outcome, and whether that was the plan."""
    words = {"Succeeded": "promoted", "RolledBack": "rolled back", "Timeout": "timed out"}
    # The first version becomes stable without a canary (no gate): nothing was promoted.
    said = [
        "stable" if o.phase == "Succeeded" and not o.decisions else words.get(o.phase, o.phase)
        for o in outcomes
    ]
    parts = [f"{o.version} {what}" for o, what in zip(outcomes, said, strict=True)]
    lost = f", {client.counts.lost} requests lost" if client.counts.lost else ""
    verdict = "" if as_planned(outcomes, planned, client) else " (not as planned)"
    return f"FragranceRelease brief-api: {', '.join(parts)}{lost}{verdict}"


def summary_json(
    path: Path, outcomes: list[Outcome], client: Client, planned: dict[str, str], budget: float
) -> Path:
    """The run, machine-readable: each rollout's outcome and time, the client's counts."""
    counts = client.counts
    document = {
        "asPlanned": as_planned(outcomes, planned, client),
        "planned": planned,
        "budgetSecondsPerRollout": budget,
        "rollouts": [
            {
                "version": o.version,
                "outcome": o.phase,
                "seconds": round(o.seconds, 1),
                "reason": o.reason,
                "gateDecisions": o.decisions,
            }
            for o in outcomes
        ],
        "client": {
            "sent": counts.sent,
            "lost": counts.lost,
            "byTrack": [
                {"track": track, "status": status, "count": n}
                for (track, status), n in sorted(counts.by_track.items())
            ],
        },
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def _per_second(client: Client) -> dict[int, list[tuple[int, str, float, str]]]:
    buckets: dict[int, list[tuple[int, str, float, str]]] = defaultdict(list)
    for s in client.samples:
        buckets[int(s.at)].append((s.status, s.mode, s.seconds, s.version))
    return buckets


def timeline_png(
    path: Path,
    timeline: Timeline,
    client: Client,
    outcomes: list[Outcome],
    planned: dict[str, str],
) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    buckets = _per_second(client)
    if not buckets:
        return None
    start = min(buckets)
    seconds = sorted(buckets)
    xs = [t - start for t in seconds]
    errors = [100 * sum(b[0] != 200 for b in buckets[t]) / len(buckets[t]) for t in seconds]
    figure, (top, middle, bottom) = plt.subplots(3, 1, figsize=(11, 8), sharex=True)
    top.step([t - start for t, _ in timeline.weights], [w for _, w in timeline.weights],
             where="post", color="tab:blue")  # fmt: skip
    # The split the client measured: each version's share of the answers, per second.
    for version in sorted({s.version for s in client.samples} - {"?"}):
        shares = [
            100 * sum(v == version for *_, v in buckets[t]) / len(buckets[t]) for t in seconds
        ]
        top.plot(xs, shares, linewidth=0.8, alpha=0.7, label=f"{version} share (client)")
    if len(top.get_legend_handles_labels()[0]):
        top.legend(loc="center right", fontsize=7)
    top.set_ylabel("canary weight %")
    middle.plot(xs, errors, color="tab:red")
    middle.set_ylabel("errors % (client)")
    for mode in MODES:
        p95 = []
        for t in seconds:
            latencies = sorted(sec for _, m, sec, _ in buckets[t] if m == mode)
            p95.append(latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan"))
        bottom.plot(xs, p95, label=mode)
    bottom.set_ylabel("p95 s (client)")
    bottom.set_xlabel("seconds")
    bottom.legend(loc="upper right")
    for at, text in timeline.marks:
        for axis in (top, middle, bottom):
            axis.axvline(at - start, color="grey", linestyle=":", linewidth=0.8)
        top.annotate(text, (at - start, 100), rotation=90, fontsize=7, va="top")
    figure.suptitle(title(outcomes, planned, client))
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
