"""Quality metrics shared by the systems' evaluation nodes."""

from __future__ import annotations

from typing import Sequence

import numpy as np


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
