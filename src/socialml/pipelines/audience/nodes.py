"""Audience nodes (seed 002): targets and folds by user, cross-validated scores, a final model per variant."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from socialml.components.audience import TARGETS, age_buckets, audience_scores, build_audience_model

logger = logging.getLogger(__name__)


def prepare_audience_targets(users: pd.DataFrame, views: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Users with a history and both targets, each assigned to an evaluation fold (stratified by sex)."""
    from sklearn.model_selection import StratifiedKFold

    targets = pd.DataFrame({"user_id": users["user_id"], "sex": users["gender"],
                            "age": age_buckets(users["age"], params["age_edges"], params["age_labels"])})
    targets = targets[targets["user_id"].isin(views["user_id"])].dropna().reset_index(drop=True)
    protocol = params["protocol"]
    if protocol["kind"] == "kfold":
        folds = StratifiedKFold(n_splits=protocol["folds"], shuffle=True, random_state=protocol["seed"])
        targets["fold"] = -1
        for fold, (_, test) in enumerate(folds.split(targets, targets["sex"])):
            targets.loc[test, "fold"] = fold
    elif protocol["kind"] == "holdout":
        rng = np.random.default_rng(protocol["seed"])
        targets["fold"] = (rng.random(len(targets)) < protocol["test_share"]).astype(int)  # fold 1 is scored
    else:
        raise ValueError(f"protocol.kind must be kfold or holdout, got {protocol['kind']!r}")
    return targets


def _scored_folds(targets: pd.DataFrame, protocol: dict[str, Any]) -> list[int]:
    return sorted(targets["fold"].unique()) if protocol["kind"] == "kfold" else [1]


def cross_validate_audience(views: pd.DataFrame, items: pd.DataFrame, targets: pd.DataFrame, spec: dict[str, Any],
                            params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Out-of-fold probabilities for every scored user, and the scores of each target."""
    predictions = []
    for fold in _scored_folds(targets, params["protocol"]):
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
    """The model serving uses: trained on every user with targets."""
    return build_audience_model(spec).fit(views[views["user_id"].isin(targets["user_id"])], items, targets)


def compare_audience_models(**scores: dict[str, Any]):
    """One table like the seed's: weighted F1 and ROC-AUC per target and model."""
    rows = [{"model": name, "target": t, "users": s["users"], **s[t]} for name, s in scores.items() for t in TARGETS]
    table = pd.DataFrame(rows)
    keep = ["model", "target", "users", "weighted_f1", "roc_auc"] + sorted(c for c in table if c.startswith("f1_"))
    table = table[keep].sort_values(["target", "roc_auc"], ascending=[True, False])
    metrics = {f"audience.{r['model']}.{r['target']}.{k}": {"value": float(r[k]), "step": 0}
               for r in rows for k in ("weighted_f1", "roc_auc")}
    return table, metrics
