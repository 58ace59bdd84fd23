"""Admin actions behind a bearer token: set mode, cache TTL, unload/load a model.

The token comes from ``FRAGRANCE_ADMIN_TOKEN`` or the file named by
``FRAGRANCE_ADMIN_TOKEN_FILE`` (a mounted Secret). No header: 401. A wrong token, or no
token configured at all (the admin API is then off): 403. Compared in constant time.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fragrance_api.modes import Mode
from fragrance_serving.ensemble import Ensemble


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class ForcedMode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Mode | None = Field(
        description="Mode every request gets; null restores the distribution."
    )


class CacheTTL(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    ttl_seconds: int = Field(alias="ttlSeconds", ge=1, le=604_800)


def configured_token() -> str | None:
    if token := os.environ.get("FRAGRANCE_ADMIN_TOKEN"):
        return token
    if path := os.environ.get("FRAGRANCE_ADMIN_TOKEN_FILE"):
        try:
            return Path(path).read_text().strip() or None
        except OSError:
            return None
    return None


class Admin:
    def __init__(self, ensemble: Ensemble, token: str | None = None) -> None:
        self.ensemble = ensemble
        self.token = token if token is not None else configured_token()

    def authorise(self, header: str | None) -> None:
        if not header:
            raise AdminError(401, "authorization: a bearer token is required")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise AdminError(401, "authorization: expected 'Bearer <token>'")
        if self.token is None:
            raise AdminError(403, "admin API disabled: no FRAGRANCE_ADMIN_TOKEN configured")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise AdminError(403, "authorization: token not accepted")

    def force_mode(self, mode: Mode | None) -> dict[str, Any]:
        self.ensemble.router.forced = mode
        return {"forcedMode": mode}

    def set_ttl(self, ttl_seconds: int) -> dict[str, Any]:
        cache = self.ensemble.cache
        cache.resize(cache.max_size, ttl_seconds, cache.enabled)
        return cache.stats()

    def _known(self, name: str) -> None:
        if name not in self.ensemble.clients:
            raise AdminError(404, f"name: no model named {name!r}")

    def unload(self, name: str) -> dict[str, Any]:
        self._known(name)
        self.ensemble.unloaded.add(name)
        return {"model": name, "loaded": False}

    def load(self, name: str) -> dict[str, Any]:
        self._known(name)
        self.ensemble.unloaded.discard(name)
        return {"model": name, "loaded": True}
