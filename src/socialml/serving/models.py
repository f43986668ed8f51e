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
from typing import Any

import numpy as np
import pandas as pd

from socialml.components.ab_test import assign_group
from socialml.components.clustering import assign
from socialml.components.encoders import build_encoder
from socialml.components.sentiment import predict_labels
from socialml.components.text import join_fields, normalise

logger = logging.getLogger(__name__)


@dataclass
class ServingModels:
    feed_source: str
    feed_models: dict[str, Any]  # group → PostFeedModel
    feed_model_names: dict[str, str]  # group → variant name
    ab_test: dict[str, Any]
    posts: pd.DataFrame  # post_id-indexed: text, topic
    topic_model: Any
    clusterer: dict[int, dict[str, Any]]
    answer_sentiment: Any
    encoder_config: dict[str, Any]
    audience_model: Any
    items: pd.DataFrame
    cross_sell_model: Any
    versions: dict[str, str]
    clusters: pd.DataFrame  # per question and cluster: size, keywords, label, sentiment (for the app)
    answer_clusters: pd.DataFrame  # per answer: cluster and map coordinates (for the app)
    views: pd.DataFrame  # viewing histories of the audience source (the app's user page)
    _encoders: dict[str, Any] = field(default_factory=dict, repr=False)
    _encoder_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- post feed ------------------------------------------------------------------------
    def group_of(self, user_id: int) -> str:
        return assign_group(user_id, self.ab_test["salt"], self.ab_test["test_share"])

    def recommend_posts(self, user_id: int, time: pd.Timestamp, limit: int) -> tuple[str, list[dict]]:
        group = self.group_of(user_id)
        request = pd.DataFrame({"request_id": [0], "user_id": [user_id], "request_time": [time]})
        ranked = self.feed_models[group].recommend(request, k=limit)
        posts = self.posts.reindex(ranked["post_id"])
        return group, [{"id": int(post_id), "text": text, "topic": topic}
                       for post_id, text, topic in zip(ranked["post_id"], posts["text"], posts["topic"])]

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
        self.encode(["warm up"])
        if self.topic_model.encoder_config:
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


def load_serving_models(project_path: str | Path = ".", env: str | None = None) -> ServingModels:
    """Open a Kedro session on the project and load the models ``serving`` parameters name."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    project_path = Path(project_path).resolve()
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        context = session.load_context()
        catalog, params = context.catalog, context.params
        serving, ab = params["serving"], params["post_feed"]["ab_test"]
        feed_source = ab["source"]
        names = {
            "feed_control": f"{feed_source}.post_feed.{ab['control']}.mdl_post_feed",
            "feed_test": f"{feed_source}.post_feed.{ab['test']}.mdl_post_feed",
            "topics": f"{serving['topics']['source']}.topics.{serving['topics']['model']}.mdl_topic_classifier",
            "clusterer": f"{serving['clusters']['source']}.mdl_answer_clusterer",
            "answer_sentiment": f"{serving['clusters']['source']}.mdl_answer_sentiment",
            "audience": f"{serving['audience']['source']}.audience.{serving['audience']['model']}.mdl_audience_model",
            "cross_sell": f"{serving['cross_sell']['source']}.cross_sell.{serving['cross_sell']['model']}"
                          ".mdl_cross_sell",
        }
        loaded = {key: catalog.load(name) for key, name in names.items()}
        versions = {name: _version(catalog, name) for name in names.values()}
        posts = catalog.load(f"{feed_source}.prm_posts")
        items = catalog.load(f"{serving['audience']['source']}.prm_items")
        views = catalog.load(f"{serving['audience']['source']}.prm_views")
        clusters = catalog.load(f"{serving['clusters']['source']}.mo_clusters")
        answer_clusters = catalog.load(f"{serving['clusters']['source']}.mo_answer_clusters")
    text = join_fields(posts["doc_text"], posts["image2text"], posts["speech2text"])
    post_table = pd.DataFrame({"text": text,
                               "topic": posts["topics"].map(lambda t: t[0] if len(t) else None).to_numpy()},
                              index=pd.Index(posts["post_id"].to_numpy(), name="post_id"))
    logger.info("serving models loaded: %s", versions)
    return ServingModels(
        feed_source=feed_source, feed_models={"control": loaded["feed_control"], "test": loaded["feed_test"]},
        feed_model_names={"control": ab["control"], "test": ab["test"]}, ab_test=ab, posts=post_table,
        topic_model=loaded["topics"], clusterer=loaded["clusterer"], answer_sentiment=loaded["answer_sentiment"],
        encoder_config=params["text_embedding"]["encoder"], audience_model=loaded["audience"], items=items,
        cross_sell_model=loaded["cross_sell"], versions=versions, clusters=clusters,
        answer_clusters=answer_clusters, views=views,
    )


def _version(catalog, name: str) -> str:
    dataset = catalog.get(name)
    resolve = getattr(dataset, "resolve_load_version", None)
    return (resolve() if resolve else None) or "unversioned"
