"""Audience: a user's sex and age bucket from the items they viewed and when (seed 002)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

import pandas as pd
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from socialml.pipelines.sources import primary_table
from socialml.serving.loading import LoadContext, ServiceOptions
from socialml.serving.schemas import Id, integer_ids, typed_id


class View(BaseModel):
    item_id: Id = Field(examples=["1"])
    timestamp: datetime
    watch_seconds: float | None = Field(None, ge=0, le=10**7)


class AudienceRequest(BaseModel):
    views: list[View] = Field(min_length=1, max_length=10_000)


class AudienceResponse(BaseModel):
    sex: dict[str, float]
    age: dict[str, float]
    known_items: int = Field(description="how many of the views are of items the model knows")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "sex": {"female": 0.82, "male": 0.18}, "age": {"<18": 0.02, "18-24": 0.31, "25-34": 0.44, "35-44": 0.15,
                                                       "45-49": 0.04, "50-55": 0.02, "56+": 0.02},
        "known_items": 12}]})


@dataclass
class AudienceModels:
    model: Any  # components.audience.models.FittedAudience
    views: pd.DataFrame  # viewing histories of the audience source (the app's user page)
    integer_ids: bool

    def probabilities(self, views: pd.DataFrame) -> dict[str, dict[str, float]]:
        return {target: {str(k): float(v) for k, v in frame.iloc[0].items()}
                for target, frame in self.model.predict_proba(views).items()}

    def known_items(self, views: pd.DataFrame) -> int:
        return int(views["item_id"].isin(self.model.items["item_id"]).sum())


def load(context: LoadContext) -> AudienceModels:
    source = context.params["serving"]["audience"]["source"]
    model = context.model("audience")
    return AudienceModels(model, context.catalog.load(f"{source}.{primary_table('views')}"),
                          integer_ids(pd.Index(model.items["item_id"])))


def router(current: Callable[[], AudienceModels], options: ServiceOptions) -> APIRouter:
    routes = APIRouter(tags=["audience"])

    @routes.post("/audience", response_model=AudienceResponse, summary="Sex and age probabilities of a viewer")
    def audience(body: AudienceRequest) -> AudienceResponse:
        """Probabilities of each sex and age bucket from the items a viewer watched and when, by the
        champion of socialml-audience. Items the model does not know count only through the time features."""
        family = current()
        views = pd.DataFrame([v.model_dump() for v in body.views]).assign(user_id=0, rating=float("nan"))
        views["item_id"] = [typed_id(v.item_id, family.integer_ids, "audience", ["body", "views", i, "item_id"])
                            for i, v in enumerate(body.views)]
        views["timestamp"] = pd.to_datetime(views["timestamp"], utc=True).dt.tz_convert(None)
        views["watch_seconds"] = views["watch_seconds"].astype(float)
        probabilities = family.probabilities(views)
        return AudienceResponse(sex=probabilities["sex"], age=probabilities["age"], known_items=family.known_items(views))

    return routes
