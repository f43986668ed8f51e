"""Audience nodes (seed 002): targets and folds by user, cross-validated scores, a final model per variant."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from socialml.components.audience.models import TARGETS, FittedAudience, age_buckets, build_audience_model
from socialml.components.evaluation.metrics import audience_scores
from socialml.components.evaluation.protocols import assign_folds, scored_folds
from socialml.components.evaluation.tables import comparison_table

logger = logging.getLogger(__name__)


def prepare_audience_targets(users: pd.DataFrame, views: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Users with a history and both targets, each assigned to an evaluation fold (stratified by sex)."""
    targets = pd.DataFrame({"user_id": users["user_id"], "sex": users["gender"],
                            "age": age_buckets(users["age"], params["age_edges"], params["age_labels"])})
    targets = targets[targets["user_id"].isin(views["user_id"])].dropna().reset_index(drop=True)
    return targets.assign(fold=assign_folds(targets["sex"], params["protocol"]))


def cross_validate_audience(views: pd.DataFrame, items: pd.DataFrame, targets: pd.DataFrame, spec: dict[str, Any],
                            params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Out-of-fold probabilities for every scored user, and the scores of each target."""
    predictions = []
    for fold in scored_folds(targets["fold"].to_numpy(), params["protocol"]):
        train_users = targets.loc[targets["fold"] != fold, "user_id"]
        test_users = targets.loc[targets["fold"] == fold, "user_id"]
        model = build_audience_model(spec).fit(views[views["user_id"].isin(train_users)], items,
                                               targets[targets["user_id"].isin(train_users)])
        probabilities = model.predict_proba(views[views["user_id"].isin(test_users)], items)
        frame = pd.concat([p.add_prefix(f"p_{t}_") for t, p in probabilities.items()], axis=1)
        predictions.append(frame.assign(fold=fold))
        logger.info("%s: fold %d done", spec["kind"], fold)
    predictions = pd.concat(predictions).reset_index()
    truth = targets.set_index("user_id").loc[predictions["user_id"]]
    scores = {}
    for t in TARGETS:
        columns = [c for c in predictions if c.startswith(f"p_{t}_")]
        probabilities = predictions[columns].fillna(0).rename(columns=lambda c: c.removeprefix(f"p_{t}_"))
        scores[t] = audience_scores(truth[t].reset_index(drop=True), probabilities)
    return predictions, {"users": len(predictions), **scores}


def fit_audience_model(views: pd.DataFrame, items: pd.DataFrame, targets: pd.DataFrame, spec: dict[str, Any]):
    """The model serving uses: trained on every user with targets, with the item table it reads."""
    return FittedAudience(build_audience_model(spec).fit(views[views["user_id"].isin(targets["user_id"])], items,
                                                          targets), items)


def compare_audience_models(**scores: dict[str, Any]):
    """One table like the seed's: weighted F1, ROC-AUC and per-class F1 per target and model."""
    rows = [{"model": name, "target": t, "users": s["users"], **s[t]} for name, s in scores.items() for t in TARGETS]
    return comparison_table(rows, ["target", "roc_auc"], "audience", keys=("model", "target"), ascending=[True, False])
