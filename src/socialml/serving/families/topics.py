"""Topics of a post: a probability per topic, and the topics above their tuned thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from socialml.components.text.preprocess import join_fields
from socialml.serving.loading import LoadContext, ServiceOptions, TextEncoders
from socialml.serving.schemas import blank


class TopicsRequest(BaseModel):
    text: str | None = Field(None, max_length=20_000, description="the whole post; or give the three fields",
                             examples=["Наша команда выиграла матч в дополнительное время"])
    doc_text: str = Field("", max_length=20_000)
    image2text: str = Field("", max_length=20_000)
    speech2text: str = Field("", max_length=20_000)

    @model_validator(mode="after")
    def some_text(self) -> TopicsRequest:
        if all(map(blank, (self.text, self.doc_text, self.image2text, self.speech2text))):
            raise ValueError("give `text` or at least one of doc_text, image2text, speech2text, not all empty")
        # `text` is the post's own text under another name: with both, one of them would be dropped unread.
        if not blank(self.text) and not blank(self.doc_text):
            raise ValueError("give the post's text as `text` or as `doc_text`, not both")
        return self

    @property
    def post_text(self) -> str:
        return self.doc_text if blank(self.text) else self.text


class TopicsResponse(BaseModel):
    probabilities: dict[str, float]
    predicted: list[str] = Field(description="topics whose probability reaches their threshold")
    model_version: str = Field(description="the registered version of socialml-topics that answered")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "probabilities": {"sport": 0.93, "politics": 0.04, "humor": 0.11}, "predicted": ["sport"],
        "model_version": "3"}]})


@dataclass
class TopicModels:
    model: Any  # a topic classifier: predict_proba(texts, embeddings), labels, thresholds, embeddings_from
    version: str
    encoders: TextEncoders

    def probabilities(self, doc_text: str, image2text: str, speech2text: str) -> pd.Series:
        text = join_fields(pd.Series([doc_text]), pd.Series([image2text]), pd.Series([speech2text]))
        record = self.model.embeddings_from
        embeddings = self.encoders.encode(text, record) if record else None
        return self.model.predict_proba(text, embeddings).iloc[0]

    def thresholds(self) -> dict[str, float]:
        return dict(zip(self.model.labels, map(float, self.model.thresholds)))

    def warm_up(self) -> None:
        """Build the encoder now, so the first request does not pay for loading a transformer."""
        self.probabilities("warm up", "", "")


def load(context: LoadContext) -> TopicModels:
    model = context.model("topics")
    version = next(served.version for served in context.served if served.family == "topics")
    return TopicModels(model, str(version), context.encoders)


def router(current: Callable[[], TopicModels], options: ServiceOptions) -> APIRouter:
    routes = APIRouter(tags=["topics"])

    @routes.post("/topics", response_model=TopicsResponse, summary="Topic probabilities of a post")
    def topics(body: TopicsRequest) -> TopicsResponse:
        """Every topic's probability from the champion of socialml-topics; `predicted` lists the topics
        whose probability reaches the threshold tuned for that topic on the validation posts."""
        family = current()
        probabilities = family.probabilities(body.post_text, body.image2text, body.speech2text)
        thresholds = family.thresholds()
        return TopicsResponse(probabilities={k: float(v) for k, v in probabilities.items()},
                              predicted=[k for k, v in probabilities.items() if v >= thresholds[k]],
                              model_version=family.version)

    return routes
