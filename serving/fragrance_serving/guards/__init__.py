"""The four production guards as pure, typed code (clock and sleep injected for tests)."""
