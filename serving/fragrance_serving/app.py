"""The Ray Serve application: a FastAPI ingress over one deployment per model.

``import_path: fragrance_serving.app:app`` in a KubeRay ``serveConfigV2``, or locally
``fragrance-serve --config deploy/serving/local.yaml``. The ingress's ``user_config`` carries
the TuningPolicy spec (``{"policy": {...}}``) and each model's carries its fault injection
(``{"faults": {...}}``): both are applied by ``reconfigure`` with no replica restart.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoint annotations of
# the Serve-wrapped methods at runtime, and string annotations would not resolve.
import asyncio
import contextlib
import threading
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import FastAPI, Header, HTTPException, Query, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from fragrance_serving import backends, policy_file
from fragrance_serving.admin import Admin, AdminError, CacheTTL, ForcedMode
from fragrance_serving.brief import BriefRequest, BriefResponse, FeedbackRequest, Mode
from fragrance_serving.ensemble import Ensemble, GuardFailed, Unavailable
from fragrance_serving.learning.worker import PPOWorker
from fragrance_serving.metrics import ServingMetrics
from fragrance_serving.settings import from_policy, parse_policy

api = FastAPI(
    title="Fragrance brief API",
    version="0.1.0",
    description="The guarded LLM ensemble: perfume briefs as JSON, with feedback for PPO.",
)


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=63)
    mode: Mode
    backend: str = "torch"
    path: str | None = None
    endpoint: str | None = None
    model: str | None = None
    temperature: float | None = Field(default=None, gt=0, le=5)
    faults: dict[str, float] = Field(default_factory=dict)


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
    timeout_seconds: float = Field(default=30.0, gt=0, le=600, alias="timeoutSeconds")
    num_cpus: float = Field(default=0.1, gt=0, le=64, alias="numCpus")
    learner: LearnerArgs | None = None


def _replica_name() -> str:
    context = serve.get_replica_context()
    replica = getattr(context, "replica_id", None)
    return str(getattr(replica, "unique_id", None) or getattr(context, "replica_tag", "?"))


class _HandleClient:
    """A model deployment seen through its handle, as the ensemble's ModelClient."""

    def __init__(self, handle: DeploymentHandle[Any]) -> None:
        self.handle = handle

    async def generate(self, prompt: str, attempt: int) -> str:
        return str(await self.handle.generate.remote(prompt, attempt))

    async def health(self) -> float:
        return float(await self.handle.health.remote())


@serve.deployment(ray_actor_options={"num_cpus": 0.1})
class ModelServer:
    def __init__(self, spec: dict[str, Any], models_dir: str) -> None:
        self.model = backends.build(spec, Path(models_dir))

    def reconfigure(self, config: dict[str, Any]) -> None:
        self.model.faults = backends.Faults.parse(config.get("faults"))

    async def generate(self, prompt: str, attempt: int = 0) -> str:
        return await self.model.generate(prompt, attempt)

    async def health(self) -> float:
        return await self.model.health()


@serve.deployment(ray_actor_options={"num_cpus": 0.1})
@serve.ingress(api)
class BriefAPI:
    def __init__(
        self, release: str, track: str, models: dict[str, tuple[Mode, DeploymentHandle[Any]]],
        timeout: float, learner: DeploymentHandle[Any] | None = None, version: str = "local",
        health_interval: float = 10.0,
    ) -> None:  # fmt: skip
        self.learner, self.version = learner, version
        self.release, self.replica = release, _replica_name()
        self.serving_metrics = ServingMetrics(release, track)
        clients = {name: (mode, _HandleClient(h)) for name, (mode, h) in models.items()}
        self.ensemble = Ensemble(
            clients, from_policy(parse_policy(None)), self.serving_metrics, timeout
        )
        self.admin = Admin(self.ensemble)
        self._stop = threading.Event()
        threading.Thread(target=self._sweep, daemon=True, name="cache-cleanup").start()
        policy_file.follow(self.reconfigure)  # in a pod: the operator's ConfigMap
        self._health_every = health_interval
        with contextlib.suppress(RuntimeError):  # no running loop: no periodic probe
            self._probe = asyncio.get_running_loop().create_task(self._probe_health())

    async def _probe_health(self) -> None:
        """Every model's real test generation, so llm_health_status is always current."""
        while self._health_every > 0:
            await self.ensemble.health_all()
            await asyncio.sleep(self._health_every)

    def reconfigure(self, config: dict[str, Any]) -> None:
        """The TuningPolicy's serving settings, live (Ray Serve user_config)."""
        self.ensemble.reconfigure(from_policy(parse_policy(config.get("policy"))))

    def _sweep(self) -> None:
        while not self._stop.wait(self.ensemble.settings.cache_cleanup):
            self.ensemble.cache.cleanup()

    @api.post("/v1/brief", response_model=BriefResponse)
    async def brief(self, request: BriefRequest) -> Response:
        try:
            answer = await self.ensemble.brief(request)
            # Already validated: serialise once, skipping FastAPI's second validation.
            return Response(answer.model_dump_json(by_alias=True), media_type="application/json")
        except Unavailable as error:
            raise HTTPException(503, str(error)) from error
        except GuardFailed as error:
            raise HTTPException(502, str(error)) from error

    @api.post("/v1/feedback", status_code=202)
    async def feedback(self, request: FeedbackRequest) -> dict[str, str]:
        self.ensemble.feedback.append(request)
        if self.learner is not None:
            await self.learner.feedback.remote(request.rating)
        return {"status": "accepted"}

    @api.get("/health")
    async def health(self) -> dict[str, str]:
        return {
            "status": "ok",
            "release": self.release,
            "version": self.version,
            "replica": self.replica,
        }

    @api.get("/health/llm")
    async def health_llm(self, model: Annotated[str, Query()] = "all") -> Response:
        if model == "all":
            results = await self.ensemble.health_all()
            healthy = sum(r.healthy for r in results)
            status = "healthy" if healthy == len(results) else "degraded" if healthy else "down"
            body = {"status": status, "models": [r.__dict__ for r in results]}
            return JSONResponse(body, status_code=503 if status == "down" else 200)
        if model not in self.ensemble.clients:
            raise HTTPException(404, f"model: no model named {model!r}")
        result = await self.ensemble.health(model)
        return JSONResponse(result.__dict__, status_code=200 if result.healthy else 503)

    @api.get("/metrics", response_class=PlainTextResponse)
    async def metrics(self) -> Response:
        self.ensemble.refresh_gauges()
        text = self.serving_metrics.render()
        if self.learner is not None:
            text += await self.learner.metrics_text.remote()
        return Response(text, media_type="text/plain; version=0.0.4")

    def _authorised(self, authorization: str | None) -> None:
        try:
            self.admin.authorise(authorization)
        except AdminError as error:
            headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
            raise HTTPException(error.status, error.message, headers=headers) from error

    @api.post("/admin/mode")
    async def set_mode(
        self, body: ForcedMode, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        self._authorised(authorization)
        return self.admin.force_mode(body.mode)

    @api.get("/admin/downshift")
    async def downshift(
        self, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        self._authorised(authorization)
        return self.ensemble.downshift_stats()

    @api.get("/admin/cache")
    async def cache_stats(
        self, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        self._authorised(authorization)
        return self.ensemble.cache.stats()

    @api.put("/admin/cache/ttl")
    async def cache_ttl(
        self, body: CacheTTL, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        self._authorised(authorization)
        return self.admin.set_ttl(body.ttl_seconds)

    @api.post("/admin/models/{name}/unload")
    async def unload(
        self, name: str, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        self._authorised(authorization)
        return self._admin_call(self.admin.unload, name)

    @api.post("/admin/models/{name}/load")
    async def load(
        self, name: str, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        self._authorised(authorization)
        return self._admin_call(self.admin.load, name)

    @api.post("/admin/ppo/rollback")
    async def ppo_rollback(
        self, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        self._authorised(authorization)
        if self.learner is None:
            raise HTTPException(503, "no PPO worker runs in this application")
        return dict(await self.learner.rollback.remote())

    @api.get("/admin/ppo")
    async def ppo_progress(
        self, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        self._authorised(authorization)
        if self.learner is None:
            raise HTTPException(503, "no PPO worker runs in this application")
        return dict(await self.learner.progress.remote())

    def _admin_call(self, fn: Any, *args: Any) -> dict[str, Any]:
        try:
            return fn(*args)  # type: ignore[no-any-return]
        except AdminError as error:
            raise HTTPException(error.status, error.message) from error


def app(args: dict[str, Any]) -> Application:
    """The application builder (``serve run fragrance_serving.app:app``)."""
    try:
        parsed = AppArgs.model_validate(args)
        policy = parse_policy(parsed.policy)
    except ValidationError as error:
        raise ValueError(f"serving config: {error}") from error
    cpus = {"num_cpus": parsed.num_cpus}
    models = {
        m.name: (
            m.mode,
            cast(Any, ModelServer)
            .options(
                name=f"model-{m.name}", ray_actor_options=cpus, user_config={"faults": m.faults}
            )
            .bind(m.model_dump(exclude_none=True), parsed.models_dir),
        )
        for m in parsed.models
    }
    learner = None
    if parsed.learner is not None and parsed.learner.enabled:
        options = {**cpus, "num_gpus": parsed.learner.num_gpus}
        learner = (
            cast(Any, PPOWorker)
            .options(ray_actor_options=options, user_config={"policy": policy.to_wire()})
            .bind(
                parsed.release,
                parsed.track,
                parsed.learner.checkpoint_dir,
                parsed.learner.pause_seconds,
                parsed.learner.seed,
            )
        )
    application: Application = (
        cast(Any, BriefAPI)
        .options(ray_actor_options=cpus, user_config={"policy": policy.to_wire()})
        .bind(
            parsed.release,
            parsed.track,
            models,
            parsed.timeout_seconds,
            learner,
            parsed.version,
            parsed.health_interval,
        )
    )
    return application
