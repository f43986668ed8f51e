"""Quality metrics shared by the systems' evaluation nodes."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def classification_scores(truth: Sequence, predicted: Sequence) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {"macro_f1": float(f1_score(truth, predicted, average="macro")),
            "weighted_f1": float(f1_score(truth, predicted, average="weighted")),
            "accuracy": float(accuracy_score(truth, predicted))}


def clustering_scores(truth: Sequence, predicted: Sequence, outlier: int = -1) -> dict[str, float]:
    """NMI and ARI against gold groups, outliers counted as one cluster, and the outlier share."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    predicted = np.asarray(predicted)
    return {"nmi": float(normalized_mutual_info_score(truth, predicted)),
            "ari": float(adjusted_rand_score(truth, predicted)),
            "outlier_share": float(np.mean(predicted == outlier))}


def multilabel_scores(y: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray,
                      labels: Sequence[str]) -> tuple[dict[str, float], list[dict]]:
    """Micro/macro F1 at the tuned thresholds, macro PR-AUC; and per label F1, PR-AUC, support."""
    from sklearn.metrics import average_precision_score, f1_score

    predicted = probabilities >= thresholds
    per_label = []
    for j, label in enumerate(labels):
        support = int(y[:, j].sum())
        per_label.append({"label": label, "support": support,
                          "f1": float(f1_score(y[:, j], predicted[:, j], zero_division=0)),
                          "pr_auc": float(average_precision_score(y[:, j], probabilities[:, j])) if support else np.nan,
                          "threshold": float(thresholds[j])})
    present = y.sum(axis=0) > 0
    summary = {"micro_f1": float(f1_score(y, predicted, average="micro", zero_division=0)),
               "macro_f1": float(f1_score(y[:, present], predicted[:, present], average="macro", zero_division=0)),
               "macro_pr_auc": float(np.nanmean([p["pr_auc"] for p in per_label]))}
    if (y.sum(axis=1) == 1).all():  # single-label data: also the accuracy of the top topic
        summary["top1_accuracy"] = float(np.mean(probabilities.argmax(axis=1) == y.argmax(axis=1)))
    return summary, per_label


def ranking_scores(recommended: np.ndarray, relevant: Sequence[set], k_values: Sequence[int],
                   n_items: int) -> dict[str, float]:
    """HitRate@k (a request is a hit if any of its k items is relevant), NDCG@k, coverage@k.

    ``recommended`` is (requests × at least max k) item ids of any type, padded with None (or NaN)
    where fewer were recommended; ``relevant`` holds each request's set of relevant ids. NDCG uses
    binary gains, ideal = min(k, |relevant|) hits.
    """
    recommended = np.asarray(recommended, dtype=object)
    present = pd.notna(recommended)
    hits = np.array([[ok and item in targets for item, ok in zip(row, row_present)]
                     for row, row_present, targets in zip(recommended, present, relevant)], dtype=bool)
    n_relevant = np.array([len(targets) for targets in relevant])
    discounts = 1 / np.log2(np.arange(2, recommended.shape[1] + 2))
    out = {}
    for k in k_values:
        dcg = (hits[:, :k] * discounts[:k]).sum(axis=1)
        ideal = np.cumsum(discounts[:k])[np.clip(np.minimum(n_relevant, k) - 1, 0, None)]
        shown = recommended[:, :k]
        out[f"hit_rate_at_{k}"] = float(hits[:, :k].any(axis=1).mean()) if len(hits) else float("nan")
        out[f"ndcg_at_{k}"] = float(np.mean(np.where(n_relevant > 0, dcg / ideal, 0))) if len(hits) else float("nan")
        out[f"coverage_at_{k}"] = float(len(set(shown[present[:, :k]].tolist())) / max(n_items, 1))
    out["requests"] = float(len(recommended))
    return out


def comparison_table(scores: dict[str, dict[str, float]], sort_by: str, prefix: str):
    """One row per model, best ``sort_by`` first, and the finite scores as kedro-mlflow metrics
    (``{prefix}.{model}.{score}: {"value": v, "step": 0}``)."""
    table = pd.DataFrame([{"model": name, **values} for name, values in scores.items()])
    table = table.sort_values(sort_by, ascending=False, ignore_index=True)
    metrics = {f"{prefix}.{row['model']}.{metric}": {"value": float(row[metric]), "step": 0}
               for row in table.to_dict("records") for metric in table.columns.drop("model")
               if np.isfinite(row[metric])}
    return table, metrics
