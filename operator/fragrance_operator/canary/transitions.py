"""What the canary machine's rules share: a builder of one transition, and the moves that
end a rollout or promote it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from fragrance_operator.canary.rollout import Event, Finished, Outcome, Phase, Rollout, Transition


@dataclass
class Builder:
    rollout: Rollout
    events: list[Event] = field(default_factory=list)
    finished: Finished | None = None

    def __post_init__(self) -> None:
        self.before = self.rollout

    def set(self, **changes: object) -> None:
        self.rollout = replace(self.rollout, **changes)  # type: ignore[arg-type]

    def emit(self, reason: str, message: str, warning: bool = False) -> None:
        self.events.append(Event(reason, message, warning))

    def done(self, action_consumed: bool = False) -> Transition:
        now, before = self.rollout, self.before
        if (now.weight, now.mirror) != (before.weight, before.mirror):
            # A new weight is not in the data plane until the converge after this write.
            self.set(weight_set_at=None)
        return Transition(self.rollout, tuple(self.events), self.finished, action_consumed)


def begin_promotion(b: Builder, why: str) -> None:
    r = b.rollout
    b.set(
        phase="Progressing",
        pause_reason=None,
        unready_since=None,
        promoting=True,
        weight=100,
        mirror=0,
        stable_version=r.canary_version,
        stable_image=r.canary_image,
        stable_hash=r.canary_hash,
        stable_settings=r.canary_settings,
    )
    b.emit("Promoting", f"{why}; making {r.canary_version} the stable version")


def finish_promotion(b: Builder) -> None:
    r = b.rollout
    b.set(phase="Succeeded", promoting=False, weight=0, pause_reason=None)
    b.finished = Finished(r.canary_version or "", "Succeeded", "promoted")
    b.emit("Promoted", f"{r.canary_version} is stable; canary removed")


def rollback(b: Builder, outcome: Outcome, reason: str) -> None:
    r = b.rollout
    phase: Phase = "Failed" if outcome == "Failed" else "RolledBack"
    b.set(phase=phase, weight=0, mirror=0, promoting=False, pause_reason=None, unready_since=None)
    b.finished = Finished(r.canary_version or "", outcome, reason)
    b.emit(outcome if outcome != "Aborted" else "Aborted", reason, True)
