"""Audience nodes (seed 002): targets and folds by user, cross-validated scores, a final model per variant."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from socialml.components.audience.models import TARGETS, FittedAudience, age_buckets, build_audience_model
from socialml.components.core.progress import progress
from socialml.components.evaluation.charts import confusion_figure
from socialml.components.evaluation.metrics import (
    audience_scores, bootstrap_intervals, class_roc_auc, comparison_reference, interval_columns, roc_auc,
)
from socialml.components.evaluation.protocols import assign_folds, scored_folds
from socialml.components.evaluation.tables import comparison_table

logger = logging.getLogger(__name__)
COLUMN_OF_TARGET = {"sex": "gender", "age": "age"}  # each target's column in the users table


def prepare_audience_targets(users: pd.DataFrame, views: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Users with a history and both targets, each assigned to an evaluation fold (stratified by sex).

    Users with views but a missing gender or age are left out and counted in the log; no user left, or
    a target with one value only, stops the run naming the users table's column."""
    targets = pd.DataFrame({"user_id": users["user_id"], "sex": users["gender"],
                            "age": age_buckets(users["age"], params["age_edges"], params["age_labels"])})
    viewers = targets[targets["user_id"].isin(views["user_id"])]
    targets = viewers.dropna().reset_index(drop=True)
    missing = {column: int(viewers[target].isna().sum()) for target, column in COLUMN_OF_TARGET.items()}
    if len(targets) < len(viewers):
        logger.info("audience: %d of %d users with views are scored; left out: %s", len(targets), len(viewers),
                    ", ".join(f"{n} without {column}" for column, n in missing.items() if n))
    if targets.empty:
        raise ValueError(f"users: none of the {len(viewers)} users with views has both a gender and an age "
                         f"({missing['gender']} lack gender, {missing['age']} age), so the audience models have "
                         "no one to learn from")
    for target, column in COLUMN_OF_TARGET.items():
        if targets[target].nunique() < 2:
            raise ValueError(f"users: every scored user has {column} {targets[target].iloc[0]!r} "
                             f"({len(targets)} users), so there is nothing for the {target} model to tell apart")
    return targets.assign(fold=assign_folds(targets["sex"], params["protocol"]))


def cross_validate_audience(views: pd.DataFrame, items: pd.DataFrame, history: pd.DataFrame, targets: pd.DataFrame,
                            spec: dict[str, Any], params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Out-of-fold probabilities for every scored user, and the scores of each target.

    The models learn from the training users' rows of ``history`` (``feat_viewer_history``) and score the
    held-out users from their views alone, as the service does."""
    predictions = []
    folds = scored_folds(targets["fold"].to_numpy(), params["protocol"])
    for fold in progress(folds, desc=f"{spec['kind']} folds", leave=False):
        train_users = targets.loc[targets["fold"] != fold, "user_id"]
        test_users = targets.loc[targets["fold"] == fold, "user_id"]
        model = build_audience_model(spec, age_labels=params["age_labels"])
        model.fit(views[views["user_id"].isin(train_users)], items, targets[targets["user_id"].isin(train_users)],
                  history)
        probabilities = model.predict_proba(views[views["user_id"].isin(test_users)], items)
        frame = pd.concat([p.add_prefix(f"p_{t}_") for t, p in probabilities.items()], axis=1)
        predictions.append(frame.assign(fold=fold))
    predictions = pd.concat(predictions).reset_index()
    truth = targets.set_index("user_id").loc[predictions["user_id"]]
    scores = {t: audience_scores(truth[t].reset_index(drop=True), target_probabilities(predictions, t)) for t in TARGETS}
    return predictions, {"users": len(predictions), **scores}


def target_probabilities(predictions: pd.DataFrame, target: str) -> pd.DataFrame:
    """One target's class probabilities out of ``mo_audience_predictions`` (``p_<target>_<class>`` columns)."""
    columns = [c for c in predictions if c.startswith(f"p_{target}_")]
    return predictions[columns].fillna(0).rename(columns=lambda c: c.removeprefix(f"p_{target}_"))


def plot_audience_confusion(predictions: pd.DataFrame, targets: pd.DataFrame, params: dict[str, Any]):
    """The out-of-fold predictions' confusion matrices, sex and age bucket side by side (buckets in age order)."""
    truth = targets.set_index("user_id").loc[predictions["user_id"]]
    panels = {t: (truth[t].to_numpy(), target_probabilities(predictions, t).idxmax(axis=1).to_numpy()) for t in TARGETS}
    classes = {"sex": sorted(truth["sex"].unique()), "age": [a for a in params["age_labels"] if a in set(truth["age"])]}
    return confusion_figure(panels, classes, f"Audience, out of fold on {len(predictions)} users: true against predicted")


def fit_audience_model(views: pd.DataFrame, items: pd.DataFrame, history: pd.DataFrame, targets: pd.DataFrame,
                       spec: dict[str, Any], params: dict[str, Any]):
    """The model serving uses: trained on every user with targets, with the item table it reads."""
    model = build_audience_model(spec, age_labels=params["age_labels"])
    model.fit(views[views["user_id"].isin(targets["user_id"])], items, targets, history)
    return FittedAudience(model, items)


def compare_audience_models(targets: pd.DataFrame, params: dict[str, Any], **predictions: pd.DataFrame):
    """One table like the seed's: weighted F1, ROC-AUC and per-class F1 per target and model, with the
    ROC-AUC's 95 % bootstrap interval and its difference from the baseline's (``audience.baseline``, else
    the first model; users resampled, the same draws for every model, so the difference's interval is paired)."""
    baseline, runs = comparison_reference(params, list(predictions))
    users = predictions[baseline]["user_id"]
    for name, frame in predictions.items():  # every model scores the same users, or the comparison is unpaired
        if set(frame["user_id"]) != set(users):
            raise ValueError(f"audience models {name!r} and {baseline!r} scored different users")
    aligned = {name: frame.set_index("user_id").loc[users].reset_index() for name, frame in predictions.items()}
    truth_table = targets.set_index("user_id").loc[users]
    rows = []
    for t in TARGETS:
        truth = truth_table[t].to_numpy()
        base = target_probabilities(aligned[baseline], t)
        for name, frame in aligned.items():
            probabilities = target_probabilities(frame, t)
            scores = audience_scores(pd.Series(truth), probabilities)
            intervals = bootstrap_intervals(_auc_and_gain(truth, probabilities, base), len(truth), runs=runs)
            rows.append({"model": name, "target": t, "users": len(truth), **scores,
                         **interval_columns(intervals, scores["roc_auc"] - roc_auc(truth, base), baseline)})
    return comparison_table(rows, ["target", "roc_auc"], "audience", keys=("model", "target"), ascending=[True, False])


def _auc_and_gain(truth: np.ndarray, probabilities: pd.DataFrame, base: pd.DataFrame):
    # Classes as column positions: integer comparisons keep 200 resamples of every model quick.
    coded = [(pd.Categorical(truth, categories=frame.columns).codes, frame.to_numpy(dtype=float),
              np.arange(frame.shape[1])) for frame in (probabilities, base)]

    def score(rows: np.ndarray) -> dict[str, float]:
        auc, base_auc = (class_roc_auc(codes[rows], scores[rows], classes) for codes, scores, classes in coded)
        return {"roc_auc": auc, "gain": auc - base_auc}
    return score
