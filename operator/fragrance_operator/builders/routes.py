"""The split written into the user's HTTPRoute (pure).

Every rule the user wrote gets the release's backendRefs: stable alone at weight 0, else
stable and canary weighted. While the canary takes traffic, each rule also gets two copies
pinned by ``X-Fragrance-Track`` (a header match outranks the same match without it): a
request that sends back the track its brief came from goes to that track, so a rating
reaches the one replica set that knows the brief. Those copies are the operator's: a rule
whose every match carries the header is not the user's and is rewritten each time.

The rules are written as the apiserver stores them (its defaults filled in), so an
unchanged split compares equal and is not written again.
"""

from __future__ import annotations

import copy
from typing import Any

from fragrance_api.headers import TRACK_HEADER

from .objects import SERVING_PORT, Track, child_name

#: Gateway API's limit on an HTTPRoute's rules; pins are left out where they would cross it.
MAX_RULES = 16
_DEFAULT_MATCH = {"path": {"type": "PathPrefix", "value": "/"}}


def http_route_backends(release: str, weight: int) -> list[dict[str, Any]]:
    """backendRefs splitting ``weight`` percent to the canary (stable alone at 0)."""
    refs = [_backend(release, "stable", 100 - weight)]
    return refs if weight == 0 else [*refs, _backend(release, "canary", weight)]


def weighted_http_route(route: dict[str, Any], release: str, weight: int) -> dict[str, Any]:
    """The route with the user's rules sent to the split and, while the canary takes
    traffic, the pinned copies after them (other fields kept)."""
    updated = copy.deepcopy(route)
    spec = updated.setdefault("spec", {})
    rules = [_stored(rule) for rule in spec.get("rules") or [{}] if not _pinned(rule)]
    for rule in rules:
        rule["backendRefs"] = http_route_backends(release, weight)
    pins: list[dict[str, Any]] = []
    if weight > 0 and 3 * len(rules) <= MAX_RULES:
        pins = [_pin(rule, release, track) for track in ("stable", "canary") for rule in rules]
    spec["rules"] = rules + pins
    return updated


def _backend(release: str, track: Track, weight: int) -> dict[str, Any]:
    name = child_name(release, track)
    return {"group": "", "kind": "Service", "name": name, "port": SERVING_PORT, "weight": weight}


def _stored(rule: dict[str, Any]) -> dict[str, Any]:
    """The rule with the defaults the apiserver gives its matches."""
    matches = [{**_DEFAULT_MATCH, **match} for match in rule.get("matches") or [{}]]
    return {**rule, "matches": matches}


def _pin(rule: dict[str, Any], release: str, track: Track) -> dict[str, Any]:
    header = {"type": "Exact", "name": TRACK_HEADER, "value": track}
    matches = [
        {**match, "headers": [*(match.get("headers") or []), header]} for match in rule["matches"]
    ]
    return {**rule, "matches": matches, "backendRefs": [_backend(release, track, 1)]}


def _pinned(rule: dict[str, Any]) -> bool:
    matches = rule.get("matches") or []
    return bool(matches) and all(
        any(h.get("name") == TRACK_HEADER for h in match.get("headers") or []) for match in matches
    )
