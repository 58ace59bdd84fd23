"""One release reconciled by hand against the session's local Ray Serve: the state machine and
the rayServe provider as the operator's reconcile runs them (observe, advance, weight,
converge, once a second), without an apiserver."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from fragrance_api.release import FragranceReleaseSpec
from fragrance_operator.adapters.ray_serve import ServeError
from fragrance_operator.canary.machine import Action, Observation, Rollout, advance, weight_set
from fragrance_operator.canary.status import plan_from_spec
from fragrance_operator.drivers.ray_serve import RayServeDriver
from tests.helpers import rayserve_spec


def spec(name: str, version: str) -> FragranceReleaseSpec:
    # Long steps: nothing but the user's actions moves this rollout.
    canary = {"steps": [25, 100], "stepInterval": "1h", "progressDeadline": "2h"}
    return rayserve_spec(version, f"{name}-r", canary)


@dataclass
class Release:
    """One release reconciled by hand: its spec, its rollout, the driver's world."""

    driver: RayServeDriver
    name: str
    spec: FragranceReleaseSpec
    rollout: Rollout = field(default_factory=Rollout)
    body: dict[str, Any] = field(default_factory=dict)

    def tick(self, action: Action | None = None) -> bool:
        """One reconcile; whether the action was consumed."""
        now = time.time()
        self.body = {"metadata": {"name": self.name}, "spec": self.spec.to_wire()}
        r, driver = self.rollout, self.driver
        obs = Observation(
            now=now,
            canary_ready=driver.ready(self.body, "canary", r.canary_image),
            stable_ready=driver.ready(self.body, "stable", r.stable_image),
            action=action,
        )
        transition = advance(r, plan_from_spec(self.spec), obs)
        driver.set_weight(self.body, self.spec, transition.rollout.weight)
        driver.converge(self.body, self.spec, transition.rollout)
        self.rollout = weight_set(transition.rollout, now) or transition.rollout
        time.sleep(1.0)
        return transition.action_consumed

    def tick_riding_out(self) -> bool:
        """A tick as kopf retries a failed reconcile: an error of the Serve API (down,
        restarting) and the next tick tries again. Whether this one went through."""
        try:
            self.tick()
        except (ServeError, RuntimeError, httpx.HTTPError):
            time.sleep(1.0)
            return False
        return True

    def until(self, what: str, done: Any, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        while not done(self.rollout):
            assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f}s"
            self.tick()
