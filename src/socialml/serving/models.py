"""The trained models the service and the Streamlit app use, loaded once from the Kedro catalog.

Everything goes through the project's catalog, so serving reads exactly what `kedro run` wrote,
in whichever environment it is started with. The versioned models of a family (the feed's
control and test, say) come from one completed run: the newest run that finished and saved all
of them (``data/06_models/completed_runs``), never from a run that was killed half-way.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from socialml.components.core.durable import COMPLETED_RUNS, versions_from_one_run
from socialml.components.evaluation.ab_test import assign_group
from socialml.components.text.clustering import assign
from socialml.components.text.encoders import build_encoder, encoder_record
from socialml.components.text.preprocess import join_fields, normalise
from socialml.components.text.sentiment import predict_labels
from socialml.registry import served_models

logger = logging.getLogger(__name__)


FAMILIES = ("feed", "topics", "clusters", "audience", "cross_sell")
INTEGER = re.compile(r"[+-]?\d{1,18}")
MAX_ID = 2**53  # integer ids beyond this lose precision in JSON clients


@dataclass
class ServingModels:
    """The models of the families a process serves; the other families' fields stay None."""

    families: tuple[str, ...]
    versions: dict[str, str]  # dataset name → loaded version
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
    # family → whether its ids (users, questions, items, clients) are integers; else strings
    integer_ids: dict[str, bool] = field(default_factory=dict)
    _encoders: dict[str, Any] = field(default_factory=dict, repr=False)
    _encoder_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def parse_id(self, family: str, text: str | int) -> int | str:
        """An id from a request, typed like the family's ids; a non-integer for integer ids is a ValueError."""
        text = str(text).strip()
        if not self.integer_ids.get(family, False):
            return text
        if not INTEGER.fullmatch(text) or abs(int(text)) > MAX_ID:
            raise ValueError(f"this {family} source has integer ids; got {text!r}")
        return int(text)

    # -- post feed ------------------------------------------------------------------------
    def group_of(self, user_id: int | str) -> str:
        return assign_group(user_id, self.ab_test["salt"], self.ab_test["test_share"])

    def recommend_posts(self, user_id: int | str, time: pd.Timestamp, limit: int) -> tuple[str, list[dict]]:
        group = self.group_of(user_id)
        ranked = self.feed_models[group].rank_posts(np.array([user_id]), np.array([time.to_datetime64()]), limit)
        return group, [self.post_cards[post_id] for post_id in ranked.post_id.tolist()]

    # -- text models ----------------------------------------------------------------------
    def encode(self, texts: list[str], record: dict[str, Any]) -> np.ndarray:
        """Embeddings from the encoder a model was trained with (its record), built once and kept.

        An encoder that gives other vectors here than in training (another package version or
        checkpoint on this machine, or one fitted per corpus) is refused with both identities.
        """
        with self._encoder_lock:  # encoders are built once; their inference is not re-entrant
            encoder = self._encoders.get(record["identity"])
            if encoder is not None:
                return encoder.encode(texts)
            encoder = build_encoder(record["config"])
            vectors = encoder.encode(texts)  # an encoder fitted on its first texts knows its version only now
            built = encoder_record(encoder, record["config"])["identity"]
            if built != record["identity"]:
                raise ValueError(f"the model was trained on embeddings from {record['identity']!r}, but its encoder "
                                 f"gives {built!r} here")
            self._encoders[record["identity"]] = encoder  # checked once, kept only if it is the model's
            return vectors

    def share_encoders(self, previous: ServingModels) -> None:
        """Use the encoders ``previous`` already built (same identities), instead of loading them again."""
        with previous._encoder_lock:
            self._encoders.update(previous._encoders)
        self._encoder_lock = previous._encoder_lock  # one lock per encoder, whichever set a request is on

    def warm_up(self) -> None:
        """Build the encoders now, so the first text request does not pay for loading a transformer."""
        if "clusters" in self.families and self.clusterer:
            self.encode(["warm up"], next(iter(self.clusterer.values()))["embeddings_from"])
        if "topics" in self.families and self.topic_model.embeddings_from:
            self.encode(["warm up"], self.topic_model.embeddings_from)

    def topic_probabilities(self, doc_text: str, image2text: str, speech2text: str) -> pd.Series:
        text = join_fields(pd.Series([doc_text]), pd.Series([image2text]), pd.Series([speech2text]))
        record = self.topic_model.embeddings_from
        embeddings = self.encode(text, record) if record else None
        return self.topic_model.predict_proba(text, embeddings).iloc[0]

    def topic_thresholds(self) -> dict[str, float]:
        return dict(zip(self.topic_model.labels, map(float, self.topic_model.thresholds)))

    def assign_answer(self, question_id: int | str, answer: str) -> dict[str, Any]:
        question = self.clusterer[question_id]
        text = normalise(answer)
        embedding = self.encode([text], question["embeddings_from"])
        cluster, similarity = assign(embedding[0], question["centroids"], question["threshold"])
        sentiment = self.answer_sentiment.predict_proba([text], embedding)
        return {"question_id": question_id, "cluster": int(cluster), "label": question["labels"].get(cluster, ""),
                "similarity": float(similarity), "sentiment": str(predict_labels(sentiment)[0]),
                "sentiment_probabilities": {k: float(v) for k, v in sentiment.iloc[0].items()}}

    # -- audience and cross-sell -------------------------------------------------------------
    def audience(self, views: pd.DataFrame) -> dict[str, dict[str, float]]:
        probabilities = self.audience_model.predict_proba(views, self.items)
        return {target: {str(k): float(v) for k, v in frame.iloc[0].items()} for target, frame in probabilities.items()}

    def cross_sell(self, client_id: int | str, limit: int) -> tuple[bool, list[dict]]:
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
        serving, ab, served = params["serving"], params["post_feed"]["ab_test"], served_models(params)
        models = ServingModels(families=families, versions={})

        runs = project_path / COMPLETED_RUNS
        run_env = context.env or "local"

        def load_together(*names: str) -> list[Any]:
            versions = versions_from_one_run(runs, run_env, names)
            models.versions |= versions
            return [catalog.load(name, version=versions[name]) for name in names]

        if "feed" in families:
            source = ab["source"]
            models.feed_source, models.ab_test = source, ab
            models.feed_model_names = {"control": ab["control"], "test": ab["test"]}
            groups = list(models.feed_model_names)
            models.feed_models = dict(zip(groups, load_together(*(served["feed"][g] for g in groups))))
            models.post_cards = _post_cards(catalog.load(f"{source}.prm_posts"))
            models.integer_ids["feed"] = _integers(models.feed_models["control"].history_.users)
        if "topics" in families:
            [models.topic_model] = load_together(served["topics"]["champion"])
        if "clusters" in families:
            source = serving["clusters"]["source"]
            models.clusterer, models.answer_sentiment = load_together(served["clusters"]["champion"],
                                                                      f"{source}.mdl_answer_sentiment")
            models.clusters = catalog.load(f"{source}.mo_clusters")
            models.answer_clusters = catalog.load(f"{source}.mo_answer_clusters")
            models.integer_ids["clusters"] = _integers(pd.Index(list(models.clusterer)))
        if "audience" in families:
            source = serving["audience"]["source"]
            [models.audience_model] = load_together(served["audience"]["champion"])
            models.items = catalog.load(f"{source}.prm_items")
            models.views = catalog.load(f"{source}.prm_views")
            models.integer_ids["audience"] = _integers(pd.Index(models.items["item_id"]))
        if "cross_sell" in families:
            [models.cross_sell_model] = load_together(served["cross_sell"]["champion"])
            models.integer_ids["cross_sell"] = _integers(models.cross_sell_model.data.user_ids)
    logger.info("serving %s with models %s", ", ".join(families), models.versions)
    return models


def _integers(ids: pd.Index) -> bool:
    return pd.api.types.is_integer_dtype(ids)


def _post_cards(posts: pd.DataFrame) -> dict[int, dict[str, Any]]:
    text = join_fields(posts["doc_text"], posts["image2text"], posts["speech2text"])
    topic = posts["topics"].map(lambda t: t[0] if len(t) else None)
    return {post_id: {"id": post_id, "text": text, "topic": topic}
            for post_id, text, topic in zip(posts["post_id"].tolist(), text, topic)}

