"""The post feed (seed 004's contract): top posts for a user, from the model of the user's A/B group."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, Callable

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from socialml.components.evaluation.ab_test import assign_group
from socialml.components.text.preprocess import join_fields
from socialml.serving.loading import LoadContext, ServiceOptions
from socialml.serving.schemas import Id, IdText, integer_ids, typed_id

logger = logging.getLogger("socialml.serving")
GROUPS = ("control", "test")


class PostGet(BaseModel):
    id: Id = Field(examples=[2984])
    text: str | None = Field(description="the post's text, image caption and speech transcript joined")
    topic: str | None = Field(description="the post's first topic", examples=["politics"])


class FeedResponse(BaseModel):
    exp_group: str = Field(description="the user's A/B group", examples=["control"])
    model: str = Field(description="the variant that ranked the posts (socialml-feed's version under the group's "
                                   "alias)", examples=["ranker"])
    cold_start: bool = Field(description="true when the model has no event of this user: the posts are ranked "
                                         "from the posts' own features and popularity, not from a history")
    recommendations: list[PostGet]

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "exp_group": "test", "model": "ranker_text", "cold_start": False,
        "recommendations": [{"id": 2984, "text": "Наша команда выиграла матч в дополнительное время", "topic": "sport"}],
    }]})


@dataclass
class FeedAnswer:
    group: str
    model: str
    cold_start: bool
    posts: list[dict[str, Any]]


@dataclass
class FeedModels:
    source: str
    models: dict[str, Any]  # group → PostFeedModel (registered aliases control and test)
    model_names: dict[str, str]  # group → variant name
    ab_test: dict[str, Any]
    post_cards: dict[Any, dict[str, Any]]  # post id → the feed's answer for it: id, text, topic
    integer_ids: bool

    def group_of(self, user_id: int | str) -> str:
        return assign_group(user_id, self.ab_test["salt"], self.ab_test["test_share"])

    def recommend_posts(self, user_id: int | str, time: pd.Timestamp, limit: int) -> FeedAnswer:
        group = self.group_of(user_id)
        model = self.models[group]
        ranked = model.rank_posts(np.array([user_id]), np.array([time.to_datetime64()]), limit)
        return FeedAnswer(group, self.model_names[group], not model.history_.knows(user_id),
                          [self.post_cards.get(post_id) or {"id": post_id, "text": None, "topic": None}
                           for post_id in ranked.post_id.tolist()])

    def warm_up(self) -> None:
        """Rank for a few users of each group now, so that the first requests a new worker takes after a
        reload do not pay for code paths and caches run for the first time."""
        moment = pd.Timestamp.now(tz="UTC").tz_localize(None)
        for model in self.models.values():
            for user_id in model.history_.users[:20]:
                self.recommend_posts(user_id, moment, 5)


def load(context: LoadContext) -> FeedModels:
    ab = context.params["post_feed"]["ab_test"]
    models = {group: context.model("feed", group) for group in GROUPS}
    posts = context.catalog.load(f"{ab['source']}.prm_posts")
    return FeedModels(ab["source"], models, {group: ab[group] for group in GROUPS}, ab, _post_cards(posts),
                      integer_ids(models["control"].history_.users))


def _post_cards(posts: pd.DataFrame) -> dict[Any, dict[str, Any]]:
    text = join_fields(posts["doc_text"], posts["image2text"], posts["speech2text"])
    topic = posts["topics"].map(lambda t: t[0] if len(t) else None)
    return {post_id: {"id": post_id, "text": text, "topic": topic}
            for post_id, text, topic in zip(posts["post_id"].tolist(), text, topic)}


def router(current: Callable[[], FeedModels], options: ServiceOptions) -> APIRouter:
    routes = APIRouter(tags=["feed"])
    # Appends of one line each, with O_APPEND: lines never interleave, even from two workers during a reload.
    log_fd = os.open(options.feed_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if options.feed_log else None

    # Async: the feed's ~1 ms of numpy runs on the event loop, which saves the thread-pool hop (and
    # the GIL hand-offs) a sync endpoint pays; the slower text endpoints stay in the pool.
    @routes.get("/post/recommendations/", response_model=FeedResponse,
                summary="Top posts for a user, from the model of the user's A/B group")
    async def recommendations(
        id: Annotated[IdText, Query(description="user id (an integer or a string, as the source's ids are)",
                                    examples=["107"])],
        time: Annotated[datetime | None, Query(description="request time (default: now)")] = None,
        limit: Annotated[int, Query(ge=1, le=50)] = 5,
    ) -> FeedResponse:
        """The user's A/B group (a salted hash of the id) picks the model (`control` or `test` alias of
        socialml-feed); the model ranks posts published before `time` that the user has not seen. Every
        answer is appended to the feed log that `kedro run --pipelines ab_test` evaluates."""
        feed = current()
        user_id = typed_id(id, feed.integer_ids, "feed", ["query", "id"])
        moment = pd.Timestamp(time or datetime.now(timezone.utc))
        moment = moment.tz_convert(None) if moment.tzinfo else moment
        answer = feed.recommend_posts(user_id, moment, limit)
        post_ids = [p["id"] for p in answer.posts]
        logger.debug("feed user=%s group=%s model=%s cold_start=%s posts=%s", user_id, answer.group, answer.model,
                     answer.cold_start, post_ids)
        if log_fd is not None:
            record = {"timestamp": moment.isoformat(), "user_id": user_id, "exp_group": answer.group,
                      "model": answer.model, "cold_start": answer.cold_start, "post_ids": post_ids}
            os.write(log_fd, (json.dumps(record) + "\n").encode())
        return FeedResponse(exp_group=answer.group, model=answer.model, cold_start=answer.cold_start,
                            recommendations=answer.posts)

    return routes
