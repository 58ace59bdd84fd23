"""Model backends: an OpenAI-compatible server (vLLM, the production path) or a torch
model the project trained (the embedded default), each with optional fault injection.

Fault injection is how a platform team rehearses a bad release (the demo's faulty v3, the
tests' broken model): ``errorRate`` makes calls raise like a 5xx, ``garbageRate`` makes the
model answer text that is not JSON, ``delaySeconds`` adds latency, ``promptBlind`` makes it
answer one fixed valid brief whatever it is asked. All default to off.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fragrance_serving.guards.upstream import UpstreamError, retry_after, status_kind

SYSTEM_PROMPT = (
    "You write perfume briefs. Answer with one JSON object only, with the keys description "
    "(string), notes (list of strings), families (list of strings), intensity (0-100) and "
    "longevity (short, medium or long)."
)
HEALTH_PROMPT = "a calm fresh scent for the office"
#: What a prompt-blind model answers to everything: valid, fast and useless.
FIXED_ANSWER = (
    '{"description": "A calm fresh composition for the office.", "notes": ["lavender", '
    '"musk", "green tea"], "families": ["fresh"], "intensity": 35, "longevity": "medium"}'
)


class ModelFailure(UpstreamError):
    """The backend did not answer (injected or real)."""


@dataclass(frozen=True)
class Faults:
    error_rate: float = 0.0
    garbage_rate: float = 0.0
    delay_seconds: float = 0.0
    prompt_blind: bool = False

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> Faults:
        raw = raw or {}
        faults = cls(
            float(raw.get("errorRate", 0.0)),
            float(raw.get("garbageRate", 0.0)),
            float(raw.get("delaySeconds", 0.0)),
            bool(raw.get("promptBlind", False)),
        )
        for name, value in (("errorRate", faults.error_rate), ("garbageRate", faults.garbage_rate)):
            if not 0 <= value <= 1:
                raise ValueError(f"faults.{name}: must lie in [0, 1], got {value}")
        if faults.delay_seconds < 0:
            raise ValueError("faults.delaySeconds: must not be negative")
        return faults


class TorchBackend:
    """A character-level model from ``make models``, sampled on CPU (or CUDA when present)."""

    def __init__(self, path: Path, temperature: float | None = None, seed: int | None = None):
        import torch

        from fragrance_serving.models import charlm

        # One sampler per replica, several replicas per node: threads would only contend.
        torch.set_num_threads(1)
        self._charlm = charlm
        self.model = charlm.load(path)
        self.temperature = temperature
        self._lock = threading.Lock()  # one sampler at a time per replica: torch is not re-entrant
        self._seed = seed

    def _sample(self, prompt: str) -> str:
        import torch

        generator = torch.Generator().manual_seed(self._seed) if self._seed is not None else None
        with self._lock:
            return self._charlm.sample(self.model, prompt, self.temperature, generator=generator)

    async def complete(self, prompt: str) -> str:
        return await asyncio.to_thread(self._sample, prompt)


class OpenAIBackend:
    """Chat completions on any OpenAI-compatible server, asking for a JSON object."""

    def __init__(self, endpoint: str, model: str, timeout: float = 30.0, json_mode: bool = True):
        self.url = endpoint.rstrip("/") + "/chat/completions"
        self.model, self.json_mode = model, json_mode
        key = os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.AsyncClient(timeout=timeout, headers=headers)

    async def complete(self, prompt: str) -> str:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": prompt},
            ],
        }
        if self.json_mode:
            body["response_format"] = {"type": "json_object"}
        try:
            answer = await self.client.post(self.url, json=body)
        except httpx.TimeoutException as error:
            raise ModelFailure("timeout", f"{self.url}: {type(error).__name__}") from error
        except httpx.TransportError as error:
            raise ModelFailure("connection", f"{self.url}: {type(error).__name__}") from error
        if answer.status_code >= 400:
            raise ModelFailure(
                status_kind(answer.status_code),
                f"{self.url}: HTTP {answer.status_code}",
                retry_after(answer.headers.get("Retry-After")),
            )
        try:
            return str(answer.json()["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise ModelFailure("bad_response", f"{self.url}: {type(error).__name__}") from error


class Model:
    """A backend behind fault injection: what the ensemble calls."""

    def __init__(self, backend: TorchBackend | OpenAIBackend, faults: Faults | None = None):
        self.backend = backend
        self.faults = faults or Faults()
        self._random = random.Random()

    async def generate(self, prompt: str, attempt: int = 0) -> str:
        faults = self.faults
        if faults.delay_seconds:
            await asyncio.sleep(faults.delay_seconds)
        roll = self._random.random()
        if roll < faults.error_rate:
            raise ModelFailure("server_error", "injected failure (faults.errorRate)")
        if roll < faults.error_rate + faults.garbage_rate:
            return "I think the perfume should be {nice, fresh"  # not JSON
        if faults.prompt_blind:
            return FIXED_ANSWER
        return await self.backend.complete(prompt)

    async def health(self) -> float:
        """A real test generation; its latency. Raises when the model cannot answer."""
        started = time.perf_counter()
        await self.generate(HEALTH_PROMPT)
        return time.perf_counter() - started


def build(spec: dict[str, Any], models_dir: Path) -> Model:
    """A model from its app-config entry: {name, mode, backend, path|endpoint, faults}."""
    name = spec.get("name", "?")
    backend = spec.get("backend", "torch")
    if backend == "torch":
        path = Path(spec.get("path") or models_dir / f"{spec.get('mode', name)}.pt")
        if not path.exists():
            raise ValueError(
                f"models[{name}].path: {path} does not exist (run `make models` first)"
            )
        inner: TorchBackend | OpenAIBackend = TorchBackend(path, spec.get("temperature"))
    elif backend == "openai":
        if not spec.get("endpoint"):
            raise ValueError(f"models[{name}].endpoint: required for the openai backend")
        inner = OpenAIBackend(spec["endpoint"], spec.get("model", name), spec.get("timeout", 30))
    else:
        raise ValueError(f"models[{name}].backend: {backend!r} is not torch or openai")
    return Model(inner, Faults.parse(spec.get("faults")))
