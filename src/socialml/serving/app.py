"""The model service's HTTP app: seed 004's feed contract with its A/B split, and the other systems' models.

Each family's endpoints come from its module in ``serving.families``; this app adds what every
service has: ``/health``, ``/ready``, ``/version`` (each served model's registered name, version,
aliases and run) and ``POST /admin/reload``. Reloading needs the token set in
``SOCIALML_RELOAD_TOKEN`` (or ``reload_token`` in ``conf/local/serving.yml``) as
``Authorization: Bearer <token>`` on a JSON request; with no token configured the route is disabled.
The reload itself is the supervisor's (``serving.supervisor``): a new worker process loads the
current registered models beside this one and takes over the socket, so requests never wait behind
a load; a reload that fails answers 503 with the reason and the running models keep serving.
The docs pages (``/docs``, ``/redoc``) serve their own scripts: they work offline.
"""

from __future__ import annotations

import os
import secrets
from contextlib import asynccontextmanager
from typing import Any, Callable, Sequence

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from socialml import __version__
from socialml.serving.families import FAMILIES
from socialml.serving.loading import ServiceOptions
from socialml.serving.models import ServingModels
from socialml.serving.schemas import Health, Ready, ReloadAnswer, VersionInfo

Reloader = Callable[[], dict[str, Any]]  # asks for a reload; answers {"reloaded": bool, "reason": ..., "models": [...]}


def create_app(load: Callable[[], ServingModels], families: Sequence[str] = tuple(FAMILIES),
               options: ServiceOptions = ServiceOptions(), reload_token: str | None = None,
               reloader: Reloader | None = None, draining: Callable[[], bool] = lambda: False) -> FastAPI:
    """The service over the models ``load`` returns (called once, at start-up); only the ``families``'
    endpoints are routed. ``reload_token`` and ``reloader`` enable ``POST /admin/reload``. While
    ``draining()`` (a worker about to hand over), every answer closes its connection, so that clients
    open their next one to the worker taking over instead of reusing one that is about to close."""
    current: dict[str, ServingModels] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        current["models"] = load()
        yield

    app = FastAPIOffline(title="SocialML", version=__version__, lifespan=lifespan,
                         description="Post feed with an A/B split, topics, answer clusters, audience and cross-sell. "
                                     "Every model is a registered MLflow model; `/version` says which.")

    def models() -> ServingModels:
        if "models" not in current:
            raise HTTPException(503, "models are not loaded yet")
        return current["models"]

    @app.middleware("http")
    async def close_when_draining(request: Request, call_next):
        response = await call_next(request)
        if draining():
            response.headers["connection"] = "close"
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
        return JSONResponse({"detail": details, "error": "invalid request"}, status_code=422)

    @app.get("/health", response_model=Health, tags=["service"], summary="The process answers")
    def health() -> Health:
        """Answers while the process runs, models loaded or not (a liveness probe)."""
        return Health(status="ok")

    @app.get("/ready", response_model=Ready, tags=["service"], responses={503: {"model": Ready}},
             summary="The models are loaded")
    def ready() -> JSONResponse:
        """200 once the models are loaded, 503 before (a readiness probe)."""
        loaded = "models" in current
        return JSONResponse({"ready": loaded}, status_code=200 if loaded else 503)

    @app.get("/version", response_model=VersionInfo, tags=["service"], summary="Which registered models serve")
    def version() -> VersionInfo:
        """Each served model's registered name, version, aliases and training run, and the worker's pid."""
        served = models()
        return VersionInfo(app=__version__, families=list(served.families),
                           models=[m.as_dict() for m in served.served], worker_pid=os.getpid())

    @app.post("/admin/reload", response_model=ReloadAnswer, tags=["service"],
              responses={401: {"model": ReloadAnswer}, 403: {"model": ReloadAnswer}, 415: {"model": ReloadAnswer},
                         503: {"model": ReloadAnswer}},
              summary="Load the registered models again and swap them in (token and a JSON request needed)")
    def reload(request: Request) -> JSONResponse:
        """A new worker loads the models the aliases point to now and takes over; 503 with the reason (the
        old models keep serving) when the load fails; 401/403/415 without the token or a JSON request."""
        if reload_token is None or reloader is None:
            return JSONResponse({"reloaded": False, "reason": "reload is disabled: no token is configured "
                                 "(SOCIALML_RELOAD_TOKEN or reload_token in conf/local/serving.yml)"}, status_code=403)
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not secrets.compare_digest(given.encode(), reload_token.encode()):
            return JSONResponse({"reloaded": False, "reason": "missing or wrong token (Authorization: Bearer ...)"},
                                status_code=401)
        # A browser page can POST text/plain to loopback without a preflight; it cannot send JSON that way.
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return JSONResponse({"reloaded": False, "reason": "send the request as application/json"},
                                status_code=415)
        answer = reloader()
        if not answer["reloaded"]:
            answer = {**answer, "models": [m.as_dict() for m in models().served]}  # the ones still serving
        return JSONResponse(answer, status_code=200 if answer["reloaded"] else 503)

    for family in families:
        app.include_router(FAMILIES[family].router(lambda family=family: models().family(family), options))
    return app
