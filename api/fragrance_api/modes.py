"""The three serving modes, cheapest first: the one list the operator and the serving share."""

from __future__ import annotations

from typing import Literal

Mode = Literal["fast", "balanced", "creative"]
MODES: tuple[Mode, ...] = ("fast", "balanced", "creative")
#: Modes whose answers are cached (creative answers are meant to differ).
CACHED_MODES: tuple[Mode, ...] = ("fast", "balanced")
