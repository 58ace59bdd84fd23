"""The serving application's arguments (``args`` of a Serve application, ``fragrance-serve
--config``): what the operator's rayServe provider writes and the serving app reads."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fragrance_api.modes import Mode


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=63)
    mode: Mode
    backend: str = "torch"
    path: str | None = None
    endpoint: str | None = None
    model: str | None = None
    temperature: float | None = Field(default=None, gt=0, le=5)
    faults: dict[str, float] = Field(default_factory=dict)
    num_gpus: float = Field(default=0, ge=0, le=8, alias="numGpus")


class LearnerArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    enabled: bool = True
    checkpoint_dir: str = Field(default="checkpoints", alias="checkpointDir")
    pause_seconds: float = Field(default=1.0, ge=0, le=3600, alias="pauseSeconds")
    seed: int = 0
    num_gpus: float = Field(default=0, ge=0, le=8, alias="numGpus")


class AppArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    release: str = "local"
    track: str = "stable"
    version: str = "local"
    image: str | None = None  # recorded by the operator's rayServe provider
    health_interval: float = Field(default=10.0, ge=0, le=3600, alias="healthIntervalSeconds")
    models_dir: str = Field(default="models", alias="modelsDir")
    models: list[ModelEntry] = Field(min_length=1, max_length=8)
    policy: dict[str, Any] = Field(default_factory=dict)
    #: One brief request's deadline, across its retries and downshifts.
    timeout_seconds: float = Field(default=30.0, gt=0, le=600, alias="timeoutSeconds")
    num_cpus: float = Field(default=0.1, gt=0, le=64, alias="numCpus")
    learner: LearnerArgs | None = None
