"""The trained models the service and the Streamlit app use, loaded once from the Kedro catalog.

Everything goes through the project's catalog (the latest version of each versioned model), so
serving reads exactly what `kedro run` wrote, in whichever environment it is started with.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from socialml.components.ab_test import assign_group
from socialml.components.clustering import assign
from socialml.components.encoders import build_encoder
from socialml.components.sentiment import predict_labels
from socialml.components.text import join_fields, normalise

logger = logging.getLogger(__name__)


FAMILIES = ("feed", "topics", "clusters", "audience", "cross_sell")


@dataclass
class ServingModels:
    """The models of the families a process serves; the other families' fields stay None."""

    families: tuple[str, ...]
    versions: dict[str, str]  # dataset name → loaded version
    encoder_config: dict[str, Any]
    # feed
    feed_source: str | None = None
    feed_models: dict[str, Any] | None = None  # group → PostFeedModel
    feed_model_names: dict[str, str] | None = None  # group → variant name
    ab_test: dict[str, Any] | None = None
    post_cards: dict[int, dict[str, Any]] | None = None  # post id → the feed's answer for it: id, text, topic
    # topics
    topic_model: Any = None
    # clusters
    clusterer: dict[int, dict[str, Any]] | None = None
    answer_sentiment: Any = None
    clusters: pd.DataFrame | None = None  # per question and cluster: size, keywords, label, sentiment (for the app)
    answer_clusters: pd.DataFrame | None = None  # per answer: cluster and map coordinates (for the app)
    # audience
    audience_model: Any = None
    items: pd.DataFrame | None = None
    views: pd.DataFrame | None = None  # viewing histories of the audience source (the app's user page)
    # cross_sell
    cross_sell_model: Any = None
    _encoders: dict[str, Any] = field(default_factory=dict, repr=False)
    _encoder_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- post feed ------------------------------------------------------------------------
    def group_of(self, user_id: int) -> str:
        return assign_group(user_id, self.ab_test["salt"], self.ab_test["test_share"])

    def recommend_posts(self, user_id: int, time: pd.Timestamp, limit: int) -> tuple[str, list[dict]]:
        group = self.group_of(user_id)
        ranked = self.feed_models[group].rank_posts(np.array([user_id]), np.array([time.to_datetime64()]), limit)
        return group, [self.post_cards[post_id] for post_id in ranked.post_id.tolist()]

    # -- text models ----------------------------------------------------------------------
    def encode(self, texts: list[str], config: dict[str, Any] | None = None) -> np.ndarray:
        """Embeddings from the encoder ``config`` names (default: the project's), built once and kept."""
        config = self.encoder_config if config is None else config
        key = json.dumps(config, sort_keys=True)
        with self._encoder_lock:  # encoders are built once; their inference is not re-entrant
            if key not in self._encoders:
                self._encoders[key] = build_encoder(config)
            return self._encoders[key].encode(texts)

    def warm_up(self) -> None:
        """Build the encoders now, so the first text request does not pay for loading a transformer."""
        if "clusters" in self.families:
            self.encode(["warm up"])
        if "topics" in self.families and self.topic_model.encoder_config:
            self.encode(["warm up"], self.topic_model.encoder_config)

    def topic_probabilities(self, doc_text: str, image2text: str, speech2text: str) -> pd.Series:
        text = join_fields(pd.Series([doc_text]), pd.Series([image2text]), pd.Series([speech2text]))
        config = self.topic_model.encoder_config
        embeddings = self.encode(text, config) if config else None
        return self.topic_model.predict_proba(text, embeddings).iloc[0]

    def topic_thresholds(self) -> dict[str, float]:
        return dict(zip(self.topic_model.labels, map(float, self.topic_model.thresholds)))

    def assign_answer(self, question_id: int, answer: str) -> dict[str, Any]:
        question = self.clusterer[question_id]
        text = normalise(answer)
        embedding = self.encode([text])
        cluster, similarity = assign(embedding[0], question["centroids"], question["threshold"])
        sentiment = self.answer_sentiment.predict_proba([text], embedding)
        return {"question_id": question_id, "cluster": int(cluster), "label": question["labels"].get(cluster, ""),
                "similarity": float(similarity), "sentiment": str(predict_labels(sentiment)[0]),
                "sentiment_probabilities": {k: float(v) for k, v in sentiment.iloc[0].items()}}

    # -- audience and cross-sell -------------------------------------------------------------
    def audience(self, views: pd.DataFrame) -> dict[str, dict[str, float]]:
        probabilities = self.audience_model.predict_proba(views, self.items)
        return {target: {str(k): float(v) for k, v in frame.iloc[0].items()} for target, frame in probabilities.items()}

    def cross_sell(self, client_id: int, limit: int) -> tuple[bool, list[dict]]:
        known = client_id in self.cross_sell_model.data.user_ids
        ranked = self.cross_sell_model.recommend([client_id], k=limit)
        return known, [{"product_id": str(p), "rank": int(r), "score": float(s)}
                       for p, r, s in zip(ranked["product_id"], ranked["rank"], ranked["score"])]


def load_serving_models(project_path: str | Path = ".", env: str | None = None,
                        families: Sequence[str] = FAMILIES) -> ServingModels:
    """Open a Kedro session on the project and load the ``families``' models that ``serving`` parameters name.

    A process that serves the feed alone never imports a text encoder (its tokenizer and weights
    are most of a full service's memory), so families can be scaled in separate processes.
    """
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    families = tuple(dict.fromkeys(families))
    unknown = set(families) - set(FAMILIES)
    if unknown or not families:
        raise ValueError(f"unknown model families {sorted(unknown)}; choose from {list(FAMILIES)}")
    project_path = Path(project_path).resolve()
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        context = session.load_context()
        catalog, params = context.catalog, context.params
        serving, ab = params["serving"], params["post_feed"]["ab_test"]
        models = ServingModels(families=families, versions={}, encoder_config=params["text_embedding"]["encoder"])

        def load(name: str, versioned: bool = True) -> Any:
            if versioned:
                models.versions[name] = _version(catalog, name)
            return catalog.load(name)

        if "feed" in families:
            source = ab["source"]
            models.feed_source, models.ab_test = source, ab
            models.feed_model_names = {"control": ab["control"], "test": ab["test"]}
            models.feed_models = {group: load(f"{source}.post_feed.{name}.mdl_post_feed")
                                  for group, name in models.feed_model_names.items()}
            models.post_cards = _post_cards(load(f"{source}.prm_posts", versioned=False))
        if "topics" in families:
            topics = serving["topics"]
            models.topic_model = load(f"{topics['source']}.topics.{topics['model']}.mdl_topic_classifier")
        if "clusters" in families:
            source = serving["clusters"]["source"]
            models.clusterer = load(f"{source}.mdl_answer_clusterer")
            models.answer_sentiment = load(f"{source}.mdl_answer_sentiment")
            models.clusters = load(f"{source}.mo_clusters", versioned=False)
            models.answer_clusters = load(f"{source}.mo_answer_clusters", versioned=False)
        if "audience" in families:
            audience = serving["audience"]
            models.audience_model = load(f"{audience['source']}.audience.{audience['model']}.mdl_audience_model")
            models.items = load(f"{audience['source']}.prm_items", versioned=False)
            models.views = load(f"{audience['source']}.prm_views", versioned=False)
        if "cross_sell" in families:
            cross_sell = serving["cross_sell"]
            models.cross_sell_model = load(f"{cross_sell['source']}.cross_sell.{cross_sell['model']}.mdl_cross_sell")
    logger.info("serving %s with models %s", ", ".join(families), models.versions)
    return models


def _post_cards(posts: pd.DataFrame) -> dict[int, dict[str, Any]]:
    text = join_fields(posts["doc_text"], posts["image2text"], posts["speech2text"])
    topic = posts["topics"].map(lambda t: t[0] if len(t) else None)
    return {post_id: {"id": post_id, "text": text, "topic": topic}
            for post_id, text, topic in zip(posts["post_id"].tolist(), text, topic)}


def _version(catalog, name: str) -> str:
    dataset = catalog.get(name)
    resolve = getattr(dataset, "resolve_load_version", None)
    return (resolve() if resolve else None) or "unversioned"
