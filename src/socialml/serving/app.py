"""The model service: seed 004's feed contract with its A/B split, and the other systems' models.

    socialml-serve [--project .] [--env ENV] [--host 127.0.0.1] [--port 8000] [--families feed,topics,...]

Models are loaded once at start-up from the Kedro catalog (the latest versions); ``POST
/admin/reload`` loads the newest ones beside the running set, in a worker thread at low CPU priority,
and swaps them in one assignment, so requests in flight finish on the old models and none is dropped.
Reloading needs the token set in ``SOCIALML_RELOAD_TOKEN`` (or ``reload_token`` in
``conf/local/serving.yml``) as ``Authorization: Bearer <token>`` on a JSON request; with no token
configured the route is disabled. A reload that fails answers 503 with the reason and the old models
keep serving. The docs pages (``/docs``, ``/redoc``) serve their own scripts: they work offline. Every feed request is logged
(user, group, model, posts) to the feed log that the ``ab_test`` pipeline evaluates. ``--families``
serves a subset (e.g. the feed alone, without the text encoders' memory) in its own process.
"""

from __future__ import annotations

import ctypes
import gc
import json
import logging
import os
import secrets
import threading
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Callable, Sequence

import pandas as pd
import yaml
from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, model_validator

from socialml import __version__
from socialml.serving.models import FAMILIES, ServingModels

logger = logging.getLogger("socialml.serving")

# Ids are integers or strings, as the source has them; a request gives them as text.
Id = int | str
IdText = Annotated[str, Field(min_length=1, max_length=200)]


class PostGet(BaseModel):
    id: Id
    text: str | None
    topic: str | None


class FeedResponse(BaseModel):
    exp_group: str
    model: str
    recommendations: list[PostGet]


class TopicsRequest(BaseModel):
    text: str | None = Field(None, max_length=20_000, description="the whole post; or give the three fields")
    doc_text: str = Field("", max_length=20_000)
    image2text: str = Field("", max_length=20_000)
    speech2text: str = Field("", max_length=20_000)

    @model_validator(mode="after")
    def some_text(self) -> TopicsRequest:
        if not any(f.strip() for f in (self.text or "", self.doc_text, self.image2text, self.speech2text)):
            raise ValueError("give `text` or at least one of doc_text, image2text, speech2text, not all empty")
        return self


class TopicsResponse(BaseModel):
    probabilities: dict[str, float]
    predicted: list[str]
    model_version: str


class ClusterRequest(BaseModel):
    question_id: Id
    answer: str = Field(min_length=1, max_length=5_000)

    @model_validator(mode="after")
    def not_blank(self) -> ClusterRequest:
        if not self.answer.strip():
            raise ValueError("answer is blank")
        return self


class ClusterResponse(BaseModel):
    question_id: Id
    cluster: int
    label: str
    similarity: float
    sentiment: str
    sentiment_probabilities: dict[str, float]


class View(BaseModel):
    item_id: Id
    timestamp: datetime
    watch_seconds: float | None = Field(None, ge=0, le=10**7)


class AudienceRequest(BaseModel):
    views: list[View] = Field(min_length=1, max_length=10_000)


class AudienceResponse(BaseModel):
    sex: dict[str, float]
    age: dict[str, float]
    known_items: int


class Product(BaseModel):
    product_id: str
    rank: int
    score: float


class CrossSellResponse(BaseModel):
    client_id: Id
    known_client: bool
    products: list[Product]


LOW_PRIORITY = 10  # niceness of the thread that loads a new model set: requests keep the cores first


class ModelHolder:
    """The current model set; replaced whole on reload (one reference assignment).

    Text encoders are shared between model sets by identity, so a reload neither loads a transformer
    again nor keeps two copies of it.
    """

    def __init__(self, loader: Callable[[], ServingModels]) -> None:
        self.loader = loader
        self.models: ServingModels | None = None
        self._reload_lock = threading.Lock()

    def load(self) -> ServingModels:
        with self._reload_lock:
            fresh = self.loader()
            if self.models is not None:
                fresh.share_encoders(self.models)
            fresh.warm_up()
            self.models = fresh
        release_freed_memory()  # the previous set, once its last requests finish
        return fresh

    def load_in_background(self) -> ServingModels:
        """``load`` in a thread of its own at low CPU priority (a thread's niceness is its own on Linux)."""
        result: dict[str, ServingModels | BaseException] = {}

        def work() -> None:
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOW_PRIORITY)
            except (AttributeError, OSError):  # not Linux, or not allowed: load at normal priority
                pass
            try:
                result["models"] = self.load()
            except BaseException as error:  # handed to the caller, who answers with it
                result["error"] = error

        worker = threading.Thread(target=work, name="model-reload")
        worker.start()
        worker.join()
        if "error" in result:
            raise result["error"]
        return result["models"]


def release_freed_memory() -> None:
    """Collect the replaced model set and hand the freed heap back to the OS: glibc keeps freed
    blocks in its arenas otherwise, and the service's memory would grow with every reload."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def reload_token(project: Path) -> str | None:
    """The admin token: ``SOCIALML_RELOAD_TOKEN``, else ``reload_token`` in ``conf/local/serving.yml``."""
    token = os.environ.get("SOCIALML_RELOAD_TOKEN")
    local = project / "conf" / "local" / "serving.yml"
    if not token and local.exists():
        token = (yaml.safe_load(local.read_text()) or {}).get("reload_token")
    return str(token) if token else None


def create_app(loader: Callable[[], ServingModels], feed_log: str | Path | None = None,
               families: Sequence[str] = FAMILIES, reload_token: str | None = None) -> FastAPI:
    """The service over the models ``loader`` returns; only the ``families``' endpoints are routed.
    ``reload_token`` enables ``POST /admin/reload`` for requests that bear it."""
    holder = ModelHolder(loader)
    routers = {family: APIRouter(tags=[family]) for family in FAMILIES}
    feed_log_file = None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        nonlocal feed_log_file
        holder.load()
        if feed_log and "feed" in families:
            feed_log_file = Path(feed_log).open("a", buffering=1)  # line-buffered
        yield
        if feed_log_file is not None:
            feed_log_file.close()

    app = FastAPIOffline(title="SocialML", version=__version__, lifespan=lifespan,
                         description="Post feed with an A/B split, topics, answer clusters, audience and cross-sell.")

    def models() -> ServingModels:
        if holder.models is None:
            raise HTTPException(503, "models are not loaded yet")
        return holder.models

    def typed_id(current: ServingModels, family: str, text: str | int, where: list[str]) -> int | str:
        try:
            return current.parse_id(family, text)
        except ValueError as error:
            raise RequestValidationError([{"loc": where, "msg": str(error), "type": "id_type"}]) from None

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
        return JSONResponse({"detail": details, "error": "invalid request"}, status_code=422)

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/ready")
    def ready() -> JSONResponse:
        loaded = holder.models is not None
        return JSONResponse({"ready": loaded}, status_code=200 if loaded else 503)

    @app.get("/version")
    def version() -> dict:
        current = models()
        answer = {"app": __version__, "families": list(current.families), "models": current.versions}
        if current.feed_models is not None:
            answer["feed_source"] = current.feed_source
            answer["ab_test"] = {**current.feed_model_names, "test_share": current.ab_test["test_share"]}
        return answer

    @app.post("/admin/reload", responses={401: {}, 403: {}, 415: {}, 503: {}})
    def reload(request: Request) -> JSONResponse:
        """Load the newest models beside the running ones and swap them in (token and a JSON request needed)."""
        if reload_token is None:
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
        try:
            fresh = holder.load_in_background()
        except Exception as error:  # the old models keep serving
            logger.exception("reload failed; the previous models keep serving")
            return JSONResponse({"reloaded": False, "reason": f"{type(error).__name__}: {error}",
                                 "models": models().versions}, status_code=503)
        return JSONResponse({"reloaded": True, "models": fresh.versions})

    # The feed is async: its ~1 ms of numpy runs on the event loop, which saves the thread-pool hop
    # (and the GIL hand-offs) a sync endpoint pays; the slower text endpoints stay in the pool.
    @routers["feed"].get("/post/recommendations/", response_model=FeedResponse)
    async def recommendations(
        id: Annotated[IdText, Query(description="user id (an integer or a string, as the source's ids are)")],
        time: Annotated[datetime | None, Query(description="request time (default: now)")] = None,
        limit: Annotated[int, Query(ge=1, le=50)] = 5,
    ) -> FeedResponse:
        current = models()
        user_id = typed_id(current, "feed", id, ["query", "id"])
        moment = pd.Timestamp(time or datetime.now(timezone.utc))
        moment = moment.tz_convert(None) if moment.tzinfo else moment
        group, posts = current.recommend_posts(user_id, moment, limit)
        model_name = current.feed_model_names[group]
        logger.info("feed user=%s group=%s model=%s posts=%s", user_id, group, model_name, [p["id"] for p in posts])
        if feed_log_file is not None:  # written on the event loop only, so lines never interleave
            record = {"timestamp": moment.isoformat(), "user_id": user_id, "exp_group": group, "model": model_name,
                      "post_ids": [p["id"] for p in posts]}
            feed_log_file.write(json.dumps(record) + "\n")
        return FeedResponse(exp_group=group, model=model_name, recommendations=posts)

    @routers["topics"].post("/topics", response_model=TopicsResponse)
    def topics(body: TopicsRequest) -> TopicsResponse:
        current = models()
        doc_text = body.text if body.text is not None and body.text.strip() else body.doc_text
        probabilities = current.topic_probabilities(doc_text, body.image2text, body.speech2text)
        thresholds = current.topic_thresholds()
        return TopicsResponse(probabilities={k: float(v) for k, v in probabilities.items()},
                              predicted=[k for k, v in probabilities.items() if v >= thresholds[k]],
                              model_version=next(v for k, v in current.versions.items() if ".topics." in k))

    @routers["clusters"].post("/clusters/assign", response_model=ClusterResponse)
    def clusters(body: ClusterRequest) -> ClusterResponse:
        current = models()
        question_id = typed_id(current, "clusters", body.question_id, ["body", "question_id"])
        if question_id not in current.clusterer:
            raise HTTPException(404, f"unknown question_id {question_id!r}; known: {sorted(current.clusterer)}")
        return ClusterResponse(**current.assign_answer(question_id, body.answer))

    @routers["audience"].post("/audience", response_model=AudienceResponse)
    def audience(body: AudienceRequest) -> AudienceResponse:
        current = models()
        views = pd.DataFrame([v.model_dump() for v in body.views]).assign(user_id=0, rating=float("nan"))
        views["item_id"] = [typed_id(current, "audience", v.item_id, ["body", "views", i, "item_id"])
                            for i, v in enumerate(body.views)]
        views["timestamp"] = pd.to_datetime(views["timestamp"], utc=True).dt.tz_convert(None)
        views["watch_seconds"] = views["watch_seconds"].astype(float)
        known = int(views["item_id"].isin(current.items["item_id"]).sum())
        probabilities = current.audience(views)
        return AudienceResponse(sex=probabilities["sex"], age=probabilities["age"], known_items=known)

    @routers["cross_sell"].get("/cross-sell/{client_id}", response_model=CrossSellResponse)
    def cross_sell(client_id: IdText, limit: Annotated[int, Query(ge=1, le=100)] = 5) -> CrossSellResponse:
        current = models()
        typed = typed_id(current, "cross_sell", client_id, ["path", "client_id"])
        known, products = current.cross_sell(typed, limit)
        return CrossSellResponse(client_id=typed, known_client=known, products=products)

    for family in families:
        app.include_router(routers[family])
    return app


def main(argv: list[str] | None = None) -> None:
    import argparse

    import uvicorn
    from threadpoolctl import threadpool_limits

    from socialml.serving.models import load_serving_models

    parser = argparse.ArgumentParser(description="Serve the trained SocialML models over HTTP.")
    parser.add_argument("--project", default=".", help="the Kedro project folder (default: here)")
    parser.add_argument("--env", default=None, help="Kedro environment whose catalog and parameters to use")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--feed-log", default=None, help="JSON-lines log of served feeds (default: from parameters)")
    parser.add_argument("--families", default=",".join(FAMILIES),
                        help=f"comma-separated model families to serve (default: all of {','.join(FAMILIES)})")
    args = parser.parse_args(argv)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = set(families) - set(FAMILIES)
    if unknown or not families:
        parser.error(f"unknown families {sorted(unknown)}; choose from {','.join(FAMILIES)}")
    project = Path(args.project).resolve()
    feed_log = args.feed_log or project / "data" / "01_raw" / "serving" / "feed_log.jsonl"
    Path(feed_log).parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Requests run concurrently in threads: one BLAS thread each, or they fight over the cores.
    threadpool_limits(1)
    token = reload_token(project)
    if token is None:
        logger.info("POST /admin/reload is disabled: set SOCIALML_RELOAD_TOKEN to enable it")
    app = create_app(lambda: load_serving_models(project, args.env, families), feed_log=feed_log, families=families,
                     reload_token=token)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
