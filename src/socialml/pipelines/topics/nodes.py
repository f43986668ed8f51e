"""Topic classification nodes (seed 001): one dataset, several models, one comparison."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from socialml.components.core.errors import DataStop, SettingsError
from socialml.components.evaluation.charts import precision_recall_figure
from socialml.components.evaluation.metrics import (
    bootstrap_intervals, classification_intervals, comparison_reference, interval_columns, multilabel_f1,
    multilabel_scores,
)
from socialml.components.evaluation.protocols import train_validation_test
from socialml.components.evaluation.tables import comparison_table, learning_curve_payload
from socialml.components.text.preprocess import join_fields
from socialml.components.text.topics import build_topic_classifier, label_matrix, out_of_fold_probabilities
from socialml.components.text.vectors import encoder_of, require_encoder, to_matrix

logger = logging.getLogger(__name__)

TOP_TOPIC = "top_topic"  # the test predictions' column of each post's most probable topic
SPLIT_STRATA = ("rarest_topic", "none")  # what a random split can be stratified by (topics.split_strata)


def prepare_topic_dataset(posts: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Posts with their joined text, topic list and split (the source's own split, else a seeded random one,
    stratified by each post's rarest topic by default so that every topic's posts are shared out in the
    split's shares: ``split_strata``).
    Posts without any text have nothing to classify: they are left out and counted in the log."""
    data = pd.DataFrame({"post_id": posts["post_id"],
                         "text": join_fields(posts["doc_text"], posts["image2text"], posts["speech2text"]),
                         "topics": posts["topics"].map(list)})
    has_text = data["text"].fillna("").astype(str).str.len() > 0  # an empty table's column is not text-typed
    if not has_text.any():
        raise DataStop(f"posts: none of the {len(data)} posts has text in any field, so there is nothing to classify")
    if not has_text.all():
        logger.info("topics: %d of %d posts have no text in any field and are left out (%d of them with topics)",
                    int((~has_text).sum()), len(data), int(data.loc[~has_text, "topics"].map(len).gt(0).sum()))
    data = data[has_text].reset_index(drop=True)
    given = posts.set_index("post_id")["split"].reindex(data["post_id"]).reset_index(drop=True)
    strata = split_strata(data["topics"], params.get("split_strata", "rarest_topic"))
    data["split"] = train_validation_test(given, params["split_shares"], params["seed"], "posts", strata=strata)
    min_count, train_counts = params["min_label_count"], training_topic_counts(data)
    learnt = topic_labels(data, min_count)
    if not learnt:
        raise DataStop(f"posts: no topic occurs {min_count} times among the {int((data['split'] == 'train').sum())} "
                       "training posts (topics.min_label_count), so there is nothing to learn")
    if rare := [label for label in every_topic(data) if label not in learnt]:
        logger.warning("topics: %d of %d topics occur fewer than %d times among the training posts and are not "
                       "learnt; the test scores count them as never predicted: %s", len(rare), len(rare) + len(learnt),
                       min_count, ", ".join(f"{label} ({int(train_counts.get(label, 0))})" for label in rare))
    return data


def split_strata(topics: pd.Series, strata: str) -> pd.Series | None:
    """What a random split is stratified by (``topics.split_strata``; an environment written before it existed
    gets the default, rarest_topic): each post's rarest topic, or nothing."""
    if strata not in SPLIT_STRATA:
        raise SettingsError(f"topics.split_strata must be one of {', '.join(SPLIT_STRATA)}; got {strata!r}")
    return rarest_topic(topics) if strata == "rarest_topic" else None


def rarest_topic(topics: pd.Series) -> pd.Series:
    """Each post's least frequent topic over all posts (ties: the first in sorted order); "" for none."""
    counts = topics.explode().value_counts()
    return topics.map(lambda labels: min(sorted(labels), key=lambda label: counts[label]) if len(labels) else "")


def training_topic_counts(dataset: pd.DataFrame) -> pd.Series:
    """How many training posts carry each topic."""
    return dataset.loc[dataset["split"] == "train", "topics"].explode().value_counts()


def topic_labels(dataset: pd.DataFrame, min_count: int) -> list[str]:
    """The topics a model learns: those with at least ``min_count`` training posts."""
    counts = training_topic_counts(dataset)
    return sorted(counts[counts >= min_count].index)


def every_topic(dataset: pd.DataFrame) -> list[str]:
    """Every topic any post carries, whatever its split."""
    return sorted(dataset["topics"].explode().dropna().unique())


def _part(dataset: pd.DataFrame, embeddings: pd.DataFrame, split: str, labels: list[str]):
    part = dataset[dataset["split"] == split]
    vectors = to_matrix(embeddings.set_index("post_id").loc[part["post_id"]].reset_index())
    return part["text"].tolist(), vectors, label_matrix(part["topics"], labels)


def train_topic_model(dataset: pd.DataFrame, embeddings: pd.DataFrame, spec: dict[str, Any], params: dict[str, Any]):
    labels = topic_labels(dataset, params["min_label_count"])
    texts, vectors, y = _part(dataset, embeddings, "train", labels)
    validation = _part(dataset, embeddings, "validation", labels)
    model = build_topic_classifier(spec)
    model.fit(texts, vectors, y, labels, validation=validation)
    out_of_fold = None
    if model.threshold_folds:
        out_of_fold = (out_of_fold_probabilities(spec, texts, vectors, y, labels, validation, model.threshold_folds,
                                                 params["seed"]), y)
    model = _with_thresholds(model, embeddings, validation, params, out_of_fold)
    return model.refit((texts, vectors, y), validation) if model.refit_with_validation else model


def combine_topic_models(dataset: pd.DataFrame, embeddings: pd.DataFrame, spec: dict[str, Any],
                         params: dict[str, Any], **trained):
    """The ensemble that ``spec`` makes of the trained models it names in ``of_models`` (``trained_<name>``)."""
    model = build_topic_classifier(spec).use_trained({name.removeprefix("trained_"): m for name, m in trained.items()})
    return _with_thresholds(model, embeddings, _part(dataset, embeddings, "validation", model.labels), params)


def _with_thresholds(model, embeddings: pd.DataFrame, validation: tuple, params: dict[str, Any],
                     out_of_fold: tuple[np.ndarray, np.ndarray] | None = None):
    """The model with its encoder recorded (when it reads embeddings) and its thresholds tuned on ``validation``
    and ``out_of_fold`` (the training posts' out-of-fold probabilities and labels, where the model asks for
    them), shrunk as ``topics.threshold_shrinkage`` says (each label's own where it is unset)."""
    if model.needs_embeddings:
        model.embeddings_from = encoder_of(embeddings)
    model.tune_thresholds(*validation, shrinkage=params.get("threshold_shrinkage", 0.0), out_of_fold=out_of_fold)
    return model


def evaluate_topic_model(model, dataset: pd.DataFrame, embeddings: pd.DataFrame
                         ) -> tuple[dict[str, Any], pd.DataFrame, Any]:
    """Test scores, the test posts' predicted labels (post_id, a 0/1 column per label and the most probable
    topic, ``TOP_TOPIC``), and each
    label's precision-recall curve with its tuned threshold marked. Topics too rare in training to be
    learnt are scored as never predicted (no threshold), so they count against the model, not vanish."""
    if model.embeddings_from is not None:
        require_encoder(model.embeddings_from, embeddings, "the topic classifier")
    not_learnt = [label for label in every_topic(dataset) if label not in model.labels]
    labels = [*model.labels, *not_learnt]
    texts, vectors, y = _part(dataset, embeddings, "test", labels)
    learnt_probabilities = model.predict_proba(texts, vectors).to_numpy()
    probabilities = np.hstack([learnt_probabilities, np.zeros((len(texts), len(not_learnt)))])
    thresholds = np.concatenate([model.thresholds, np.full(len(not_learnt), np.nan)])
    summary, per_label = multilabel_scores(y, probabilities, thresholds, labels)
    predicted = pd.DataFrame((probabilities >= thresholds).astype("int8"), columns=labels)
    predicted.insert(0, "post_id", dataset.loc[dataset["split"] == "test", "post_id"].to_numpy())
    predicted[TOP_TOPIC] = np.asarray(model.labels)[learnt_probabilities.argmax(axis=1)]
    curves = precision_recall_figure(y[:, :len(model.labels)], learnt_probabilities, model.thresholds, model.labels,
                                     f"Precision-recall per topic on {len(texts)} test posts (circles: tuned thresholds)")
    scores = {"summary": {"test_posts": len(texts), "threshold_shrinkage": model.threshold_shrinkage,
                          "threshold_folds": model.threshold_folds, "refit_with_validation": model.refit_with_validation,
                          "softmax": model.fitted_softmax,  # one over the topics, not a binary output each
                          "topics_not_learnt": len(not_learnt), **summary},
              "per_label": per_label}
    training = getattr(model, "training_record", None)  # a model trained in epochs (kind finetune)
    if training:
        scores["training"] = training
    return scores, predicted, curves


def topic_intervals(dataset: pd.DataFrame, params: dict[str, Any], **predictions: pd.DataFrame
                    ) -> dict[str, dict[str, float]]:
    """Per model, 95 % bootstrap intervals (test posts resampled, the same draws for every model) of micro
    and macro F1, and its micro-F1 gain over the baseline (``topics.baseline``, else the first model). Where
    every test post has one topic (BASELINES.md's protocol for such data), the top topic's macro-F1 and
    accuracy too, with the top-1 macro-F1 gain (``top1_`` columns)."""
    baseline, runs = comparison_reference(params, list(predictions))
    test = dataset[dataset["split"] == "test"]
    aligned = {name: frame.set_index("post_id").loc[test["post_id"]] for name, frame in predictions.items()}
    labels = [c for c in aligned[baseline] if c != TOP_TOPIC]
    y = label_matrix(test["topics"], labels)
    predicted = {name: frame[labels].to_numpy(dtype=bool) for name, frame in aligned.items()}
    out = {}
    for name, matrix in predicted.items():
        def score(rows: np.ndarray, matrix: np.ndarray = matrix) -> dict[str, float]:
            scores = multilabel_f1(y[rows], matrix[rows])
            return {**scores, "gain": scores["micro_f1"] - multilabel_f1(y[rows], predicted[baseline][rows])["micro_f1"]}

        intervals = bootstrap_intervals(score, len(y), runs=runs)
        out[name] = interval_columns(intervals, score(np.arange(len(y)))["gain"], baseline)
    if len(test) and test["topics"].map(len).eq(1).all():
        truth = test["topics"].str[0].to_numpy()
        tops = {name: frame[TOP_TOPIC].to_numpy() for name, frame in aligned.items()}
        for name, columns in classification_intervals(truth, tops, baseline, runs).items():
            out[name] |= {f"top1_{column}": value for column, value in columns.items()}
    return out


def compare_topic_models(intervals: dict[str, dict[str, float]], **scores: dict[str, Any]):
    """Every model's test scores side by side (the TF-IDF baseline among them) with their intervals, per
    label too."""
    comparison, metrics = comparison_table([{"model": name, **s["summary"], **intervals[name]}
                                            for name, s in scores.items()], "micro_f1", "topics")
    for name, s in scores.items():  # learning curves of the models trained in epochs, one step per epoch
        metrics |= learning_curve_payload(f"topics/{name}", s.get("training", {}))
    per_label = pd.DataFrame([{"model": name, **row} for name, s in scores.items() for row in s["per_label"]])
    return comparison, per_label, metrics
