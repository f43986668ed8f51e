"""The model service: seed 004's feed contract with its A/B split, and the other systems' models.

    socialml serve [--project .] [--env ENV] [--host 127.0.0.1] [--port 8000]

Models are loaded once at start-up from the Kedro catalog (the latest versions); ``POST
/admin/reload`` loads the newest ones beside the running set and swaps them in one assignment, so
requests in flight finish on the old models and none is dropped. Every feed request is logged
(user, group, model, posts) to the feed log that the ``ab_test`` pipeline evaluates.
"""

from __future__ import annotations

import json
import logging
import threading
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Callable

import pandas as pd
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, model_validator

from socialml import __version__
from socialml.serving.models import ServingModels

logger = logging.getLogger("socialml.serving")

MAX_ID = 2**53  # ids beyond this lose precision in JSON clients


class PostGet(BaseModel):
    id: int
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
    question_id: int = Field(ge=0, le=MAX_ID)
    answer: str = Field(min_length=1, max_length=5_000)

    @model_validator(mode="after")
    def not_blank(self) -> ClusterRequest:
        if not self.answer.strip():
            raise ValueError("answer is blank")
        return self


class ClusterResponse(BaseModel):
    question_id: int
    cluster: int
    label: str
    similarity: float
    sentiment: str
    sentiment_probabilities: dict[str, float]


class View(BaseModel):
    item_id: int = Field(ge=-MAX_ID, le=MAX_ID)
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
    client_id: int
    known_client: bool
    products: list[Product]


class ModelHolder:
    """The current model set; replaced whole on reload (one reference assignment)."""

    def __init__(self, loader: Callable[[], ServingModels]) -> None:
        self.loader = loader
        self.models: ServingModels | None = None
        self._reload_lock = threading.Lock()

    def load(self) -> ServingModels:
        with self._reload_lock:
            fresh = self.loader()
            fresh.warm_up()
            self.models = fresh
            return fresh


def create_app(loader: Callable[[], ServingModels], feed_log: str | Path | None = None) -> FastAPI:
    holder = ModelHolder(loader)
    log_path = Path(feed_log) if feed_log else None
    log_lock = threading.Lock()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        holder.load()
        yield

    app = FastAPI(title="SocialML", version=__version__, lifespan=lifespan,
                  description="Post feed with an A/B split, topics, answer clusters, audience and cross-sell.")

    def models() -> ServingModels:
        if holder.models is None:
            raise HTTPException(503, "models are not loaded yet")
        return holder.models

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
        return {"app": __version__, "feed_source": current.feed_source, "models": current.versions,
                "ab_test": {"control": current.feed_model_names["control"], "test": current.feed_model_names["test"],
                            "test_share": current.ab_test["test_share"]}}

    @app.post("/admin/reload")
    def reload() -> dict:
        return {"reloaded": True, "models": holder.load().versions}

    @app.get("/post/recommendations/", response_model=FeedResponse)
    def recommendations(
        id: Annotated[int, Query(ge=-MAX_ID, le=MAX_ID, description="user id")],
        time: Annotated[datetime | None, Query(description="request time (default: now)")] = None,
        limit: Annotated[int, Query(ge=1, le=50)] = 5,
    ) -> FeedResponse:
        current = models()
        moment = pd.Timestamp(time or datetime.now(timezone.utc))
        moment = moment.tz_convert(None) if moment.tzinfo else moment
        group, posts = current.recommend_posts(id, moment, limit)
        model_name = current.feed_model_names[group]
        logger.info("feed user=%s group=%s model=%s posts=%s", id, group, model_name, [p["id"] for p in posts])
        if log_path is not None:
            record = {"timestamp": moment.isoformat(), "user_id": id, "exp_group": group, "model": model_name,
                      "post_ids": [p["id"] for p in posts]}
            with log_lock, log_path.open("a") as file:
                file.write(json.dumps(record) + "\n")
        return FeedResponse(exp_group=group, model=model_name, recommendations=posts)

    @app.post("/topics", response_model=TopicsResponse)
    def topics(body: TopicsRequest) -> TopicsResponse:
        current = models()
        doc_text = body.text if body.text is not None and body.text.strip() else body.doc_text
        probabilities = current.topic_probabilities(doc_text, body.image2text, body.speech2text)
        thresholds = current.topic_thresholds()
        return TopicsResponse(probabilities={k: float(v) for k, v in probabilities.items()},
                              predicted=[k for k, v in probabilities.items() if v >= thresholds[k]],
                              model_version=next(v for k, v in current.versions.items() if ".topics." in k))

    @app.post("/clusters/assign", response_model=ClusterResponse)
    def clusters(body: ClusterRequest) -> ClusterResponse:
        current = models()
        if body.question_id not in current.clusterer:
            raise HTTPException(404, f"unknown question_id {body.question_id}; known: {sorted(current.clusterer)}")
        return ClusterResponse(**current.assign_answer(body.question_id, body.answer))

    @app.post("/audience", response_model=AudienceResponse)
    def audience(body: AudienceRequest) -> AudienceResponse:
        current = models()
        views = pd.DataFrame([v.model_dump() for v in body.views]).assign(user_id=0, rating=float("nan"))
        views["timestamp"] = pd.to_datetime(views["timestamp"], utc=True).dt.tz_convert(None)
        views["watch_seconds"] = views["watch_seconds"].astype(float)
        known = int(views["item_id"].isin(current.items["item_id"]).sum())
        probabilities = current.audience(views)
        return AudienceResponse(sex=probabilities["sex"], age=probabilities["age"], known_items=known)

    @app.get("/cross-sell/{client_id}", response_model=CrossSellResponse)
    def cross_sell(client_id: Annotated[int, Field(ge=-MAX_ID, le=MAX_ID)],
                   limit: Annotated[int, Query(ge=1, le=100)] = 5) -> CrossSellResponse:
        known, products = models().cross_sell(client_id, limit)
        return CrossSellResponse(client_id=client_id, known_client=known, products=products)

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
    args = parser.parse_args(argv)
    project = Path(args.project).resolve()
    feed_log = args.feed_log or project / "data" / "01_raw" / "serving" / "feed_log.jsonl"
    Path(feed_log).parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Requests run concurrently in threads: one BLAS thread each, or they fight over the cores.
    threadpool_limits(1)
    app = create_app(lambda: load_serving_models(project, args.env), feed_log=feed_log)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
