"""Audience nodes (seed 002): targets and folds by user, cross-validated scores, a final model per variant."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from socialml.components.audience.models import (
    TARGETS, FittedAudience, age_buckets, build_audience_model, sex_strata,
)
from socialml.components.core.errors import DataStop
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
    """Users with a history and at least one target, each assigned to an evaluation fold (stratified by
    sex, the users without one a stratum of their own).

    A user with one target only (a gender but no age) trains and is scored on that one; users with
    neither are left out; the log counts both. A target no user has, or has one value of, stops the run
    naming the users table's column."""
    targets = pd.DataFrame({"user_id": users["user_id"], "sex": users["gender"],
                            "age": age_buckets(users["age"], params["age_edges"], params["age_labels"])})
    viewers = targets[targets["user_id"].isin(views["user_id"])]
    targets = viewers.dropna(subset=list(TARGETS), how="all").reset_index(drop=True)
    partial = {column: int(targets[target].isna().sum()) for target, column in COLUMN_OF_TARGET.items()}
    if len(targets) < len(viewers) or any(partial.values()):
        logger.info("audience: %d of %d users with views are scored (%d with neither gender nor age are left "
                    "out); %d without gender score on age only, %d without age on sex only", len(targets),
                    len(viewers), len(viewers) - len(targets), partial["gender"], partial["age"])
    for target, column in COLUMN_OF_TARGET.items():
        known = targets[target].dropna()
        if known.empty:
            raise DataStop(f"users: column {column!r} is empty for all {len(viewers)} users with views, so "
                             f"the {target} model has no one to learn from")
        if known.nunique() < 2:
            raise DataStop(f"users: column {column!r} is {known.iloc[0]!r} for every user that has one "
                             f"({len(known)} users), so there is nothing for the {target} model to tell apart")
    return targets.assign(fold=assign_folds(sex_strata(targets), params["protocol"]))


def known_truth(targets: pd.DataFrame, users: pd.Series, target: str) -> tuple[np.ndarray, np.ndarray]:
    """``target``'s value for each of ``users`` (rows of ``targets``), and which of them have one."""
    truth = targets.set_index("user_id")[target].loc[users].to_numpy()
    return truth, pd.notna(truth)


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
    scores = {}
    for t in TARGETS:  # each target on the users that have it
        truth, known = known_truth(targets, predictions["user_id"], t)
        scores[t] = {"users": int(known.sum()),
                     **audience_scores(pd.Series(truth[known]), target_probabilities(predictions, t)[known])}
    return predictions, {"users": len(predictions), **scores}


def target_probabilities(predictions: pd.DataFrame, target: str) -> pd.DataFrame:
    """One target's class probabilities out of ``mo_audience_predictions`` (``p_<target>_<class>`` columns)."""
    columns = [c for c in predictions if c.startswith(f"p_{target}_")]
    return predictions[columns].fillna(0).rename(columns=lambda c: c.removeprefix(f"p_{target}_"))


def plot_audience_confusion(predictions: pd.DataFrame, targets: pd.DataFrame, params: dict[str, Any]):
    """The out-of-fold predictions' confusion matrices, sex and age bucket side by side (buckets in age order)."""
    panels = {}
    for t in TARGETS:
        truth, known = known_truth(targets, predictions["user_id"], t)
        panels[t] = (truth[known], target_probabilities(predictions, t)[known].idxmax(axis=1).to_numpy())
    classes = {"sex": sorted(set(panels["sex"][0])),
               "age": [a for a in params["age_labels"] if a in set(panels["age"][0])]}
    return confusion_figure(panels, classes, f"Audience, out of fold on {len(predictions)} users: true against predicted")


def fit_audience_model(views: pd.DataFrame, items: pd.DataFrame, history: pd.DataFrame, targets: pd.DataFrame,
                       spec: dict[str, Any], params: dict[str, Any]):
    """The model serving uses: trained on every user with targets, with the item table it reads."""
    model = build_audience_model(spec, age_labels=params["age_labels"])
    model.fit(views[views["user_id"].isin(targets["user_id"])], items, targets, history)
    return FittedAudience(model, items, params["age_labels"])


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
    rows = []
    for t in TARGETS:  # each target on the users that have it
        truth, known = known_truth(targets, users, t)
        truth = truth[known]
        base = target_probabilities(aligned[baseline], t)[known].reset_index(drop=True)
        for name, frame in aligned.items():
            probabilities = target_probabilities(frame, t)[known].reset_index(drop=True)
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
