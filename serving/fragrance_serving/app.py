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
import logging
import threading
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import FastAPI, Header, HTTPException, Query, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ValidationError
from ray import serve
from ray.exceptions import RayError, RayTaskError
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from fragrance_api.headers import TRACK_HEADER, VERSION_HEADER
from fragrance_api.modes import Mode
from fragrance_api.serving_args import AppArgs
from fragrance_serving import backends, policy_file
from fragrance_serving.admin import Admin, AdminError, CacheTTL, ForcedMode
from fragrance_serving.brief import (
    BriefRequest,
    BriefResponse,
    FeedbackRequest,
)
from fragrance_serving.ensemble import Ensemble
from fragrance_serving.guards.upstream import UpstreamError
from fragrance_serving.learning.worker import PPOWorker
from fragrance_serving.metrics import ServingMetrics
from fragrance_serving.model_client import GuardFailed, Unavailable
from fragrance_serving.settings import from_policy, parse_policy

log = logging.getLogger(__name__)
api = FastAPI(
    title="Fragrance brief API",
    version="0.1.0",
    description="The guarded LLM ensemble: perfume briefs as JSON, with feedback for PPO.",
)


def _replica_name() -> str:
    context = serve.get_replica_context()
    replica = getattr(context, "replica_id", None)
    return str(getattr(replica, "unique_id", None) or getattr(context, "replica_tag", "?"))


class _HandleClient:
    """A model deployment seen through its handle, as the ensemble's ModelClient.

    Ray wraps what a replica raised in a RayTaskError; the ensemble decides on the model's
    own :class:`UpstreamError` (its kind, its Retry-After), so that is what comes out. A
    replica Ray could not reach (died, being replaced) is a connection failure: worth
    another try, which Serve routes to a live replica.
    """

    def __init__(self, handle: DeploymentHandle[Any]) -> None:
        self.handle = handle

    async def generate(self, prompt: str, attempt: int) -> str:
        try:
            return str(await self.handle.generate.remote(prompt, attempt))
        except RayTaskError as error:
            cause = error.cause
            if isinstance(cause, UpstreamError):
                raise UpstreamError(cause.kind, cause.detail, cause.retry_after) from None
            raise UpstreamError("crash", type(cause).__name__) from None
        except RayError as error:
            raise UpstreamError("connection", type(error).__name__) from None

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
        clients = {name: (mode, _HandleClient(h)) for name, (mode, h) in models.items()}
        self.ensemble = Ensemble(
            clients, from_policy(parse_policy(None)), ServingMetrics(release, track), timeout
        )
        self.admin = Admin(self.ensemble)
        self._stop = threading.Event()
        threading.Thread(target=self._sweep, daemon=True, name="cache-cleanup").start()
        # In a pod: the operator's ConfigMap, the policy's only source (see reconfigure).
        self._policy_file = policy_file.follow(self._apply_policy)
        self._health_every = health_interval
        with contextlib.suppress(RuntimeError):  # no running loop: no periodic probe
            self._probe = asyncio.get_running_loop().create_task(self._probe_health())

    async def _probe_health(self) -> None:
        """Every model's real test generation, so llm_health_status is always current."""
        while self._health_every > 0:
            await self.ensemble.health_all()
            await asyncio.sleep(self._health_every)

    def reconfigure(self, config: dict[str, Any]) -> None:
        """This app's track and the TuningPolicy's serving settings, live (user_config).

        Where the operator wrote a policy file for this pod the settings come from the file
        alone: Serve applies the user_config after ``__init__``, and its policy (none, in a
        pod's app config) would undo the file's, which is not read again until it changes.
        """
        policy_file.apply_unless_followed(self._policy_file, self._apply_policy, config)
        if config.get("track"):
            self.ensemble.retrack(str(config["track"]))

    def _apply_policy(self, config: dict[str, Any]) -> None:
        self.ensemble.reconfigure(from_policy(parse_policy(config.get("policy"))))

    def _sweep(self) -> None:
        while not self._stop.wait(self.ensemble.settings.cache_cleanup):
            self.ensemble.cache.cleanup()

    @api.post("/v1/brief", response_model=BriefResponse)
    async def brief(self, request: BriefRequest) -> Response:
        try:
            answer = await self._with_formula(await self.ensemble.brief(request))
            # Already validated: serialise once, skipping FastAPI's second validation.
            return Response(
                answer.model_dump_json(by_alias=True),
                media_type="application/json",
                headers=self._headers(),
            )
        except Unavailable as error:
            return self._error(503, "no_model_answered", str(error))
        except GuardFailed as error:
            return self._error(502, "no_valid_brief", str(error))

    async def _with_formula(self, answer: BriefResponse) -> BriefResponse:
        """The learner's choice for the brief; a learner that cannot answer costs the caller
        the formula, never the brief."""
        if self.learner is None or answer.fallback:
            return answer
        brief = answer.brief
        try:
            formula = await self.learner.choose.remote(answer.id, brief.families, brief.intensity)
        except RayError as error:
            log.warning("no formula for brief %s: the PPO worker failed: %s", answer.id, error)
            return answer
        return answer.model_copy(update={"formula": formula}) if formula else answer

    def _headers(self) -> dict[str, str]:
        return {VERSION_HEADER: self.version, TRACK_HEADER: self.ensemble.metrics.base["track"]}

    def _error(self, status: int, code: str, message: str) -> JSONResponse:
        """A brief request no model could answer: a stable body a client can branch on."""
        return JSONResponse(
            {"error": {"code": code, "message": message}},
            status_code=status,
            headers=self._headers(),
        )

    @api.post(
        "/v1/feedback",
        status_code=202,
        responses={404: {"description": "unknown or expired"}, 409: {"description": "rated"}},
    )
    async def feedback(self, request: FeedbackRequest) -> Response:
        """A rating of a brief this track answered: the reward of the learner's choice."""
        if self.learner is None:
            return self._error(503, "no_learner", "no PPO worker runs in this application")
        refused = await self.learner.feedback.remote(request.brief_id, request.rating)
        if refused is not None:
            status = 409 if refused["reason"] == "rated" else 404
            code = "already_rated" if refused["reason"] == "rated" else "unknown_brief"
            return self._error(status, code, refused["message"])
        return JSONResponse({"status": "accepted"}, status_code=202, headers=self._headers())

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
        text = self.ensemble.metrics.render()
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
                name=f"model-{m.name}",
                ray_actor_options={**cpus, "num_gpus": m.num_gpus},
                user_config={"faults": m.faults},
            )
            .bind(m.model_dump(exclude_none=True, exclude={"num_gpus"}), parsed.models_dir),
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
