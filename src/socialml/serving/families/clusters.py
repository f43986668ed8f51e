"""Answer clusters: place a new answer to a clustered question, with its sentiment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator

from socialml.components.text.preprocess import normalise
from socialml.serving.loading import LoadContext, ServiceOptions, TextEncoders
from socialml.serving.schemas import Id, blank, integer_ids, typed_id


class ClusterRequest(BaseModel):
    question_id: Id = Field(examples=["Q1000"])
    answer: str = Field(min_length=1, max_length=5_000, examples=["приложение постоянно зависает"])

    @model_validator(mode="after")
    def not_blank(self) -> ClusterRequest:
        if blank(self.answer):
            raise ValueError("answer is blank")
        return self


class ClusterResponse(BaseModel):
    question_id: Id
    cluster: int = Field(description="-1: no cluster is close enough (an outlier)")
    label: str
    similarity: float = Field(description="cosine similarity to the nearest cluster's centroid")
    sentiment: str
    sentiment_probabilities: dict[str, float]

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "question_id": "Q1000", "cluster": 2, "label": "виснуть, медленно, плохо — «всё плохо»", "similarity": 0.91,
        "sentiment": "negative", "sentiment_probabilities": {"negative": 0.71, "neutral": 0.22, "positive": 0.07}}]})


@dataclass
class ClusterModels:
    clusterer: Any  # components.text.clustering.AnswerClusterer, with the tables it clustered
    integer_ids: bool
    encoders: TextEncoders

    @property
    def clusters(self) -> pd.DataFrame:
        """Per question and cluster: size, keywords, label, sentiment (for the app)."""
        return self.clusterer.clusters

    @property
    def answer_clusters(self) -> pd.DataFrame:
        """Per answer: cluster and map coordinates (for the app)."""
        return self.clusterer.answer_clusters

    def assign_answer(self, question_id: int | str, answer: str) -> dict[str, Any]:
        text = normalise(answer)
        row = self.clusterer.assign([question_id], [text], self.encoders.encode([text], self.clusterer.clustered_from),
                                    self.encoders.encode([text], self.clusterer.embeddings_from)).iloc[0]
        probabilities = {column.removeprefix("p_"): float(row[column]) for column in row.index if column.startswith("p_")}
        return {"question_id": question_id, "cluster": int(row["cluster"]), "label": row["label"],
                "similarity": float(row["similarity"]), "sentiment": str(row["sentiment"]),
                "sentiment_probabilities": probabilities}

    def warm_up(self) -> None:
        for record in (self.clusterer.clustered_from, self.clusterer.embeddings_from):
            self.encoders.encode(["warm up"], record)


def load(context: LoadContext) -> ClusterModels:
    clusterer = context.model("clusters")
    if clusterer.clusters is None:  # saved before clusterers kept their tables: the latest run's
        source = context.params["serving"]["clusters"]["source"]
        clusterer.clusters = context.catalog.load(f"{source}.mo_clusters")
        clusterer.answer_clusters = context.catalog.load(f"{source}.mo_answer_clusters")
    return ClusterModels(clusterer, integer_ids(pd.Index(list(clusterer.questions))), context.encoders)


def router(current: Callable[[], ClusterModels], options: ServiceOptions) -> APIRouter:
    routes = APIRouter(tags=["clusters"])

    @routes.post("/clusters/assign", response_model=ClusterResponse, summary="The cluster and sentiment of an answer")
    def clusters(body: ClusterRequest) -> ClusterResponse:
        """The answer is embedded like the question's answers were and joins the nearest cluster, or none
        (-1) when it is farther than the cluster's members; its sentiment comes from the blend of the
        trained head and zero-shot anchors, read in the light of what the question asks for ("бюрократия"
        answering "Что мешает вам работать?" is a complaint). 404 names the known questions."""
        family = current()
        question_id = typed_id(body.question_id, family.integer_ids, "clusters", ["body", "question_id"])
        if question_id not in family.clusterer.questions:
            raise HTTPException(404, f"unknown question_id {question_id!r}; {family.clusterer.known_questions()}")
        return ClusterResponse(**family.assign_answer(question_id, body.answer))

    return routes
