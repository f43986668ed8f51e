"""Rankers of the post feed's candidates: fitted on (request, candidate) features with 0/1 labels grouped by request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from socialml.components.core.parts import Parts


class Ranker(Protocol):
    def fit(self, x: np.ndarray, labels: np.ndarray, groups: np.ndarray, names: list[str]) -> Ranker: ...

    def score(self, x: np.ndarray) -> np.ndarray: ...

    def feature_importance(self) -> pd.DataFrame: ...


@dataclass
class CatBoostRanker:
    """CatBoost on the pairs (Logloss by default; ``YetiRank`` or ``PairLogit`` rank within each request)."""

    iterations: int = 300
    depth: int = 6
    learning_rate: float = 0.08
    loss_function: str = "Logloss"
    l2_leaf_reg: float = 3.0
    seed: int = 0
    threads: int = 2  # for fitting; a feed is scored on one thread (a served request must not fight for cores)
    model_: Any = None
    names_: list[str] | None = None

    def fit(self, x: np.ndarray, labels: np.ndarray, groups: np.ndarray, names: list[str]) -> CatBoostRanker:
        from catboost import CatBoost, Pool

        self.model_ = CatBoost({"iterations": self.iterations, "depth": self.depth,
                                "learning_rate": self.learning_rate, "loss_function": self.loss_function,
                                "l2_leaf_reg": self.l2_leaf_reg, "random_seed": self.seed,
                                "thread_count": self.threads, "verbose": False, "allow_writing_files": False})
        self.model_.fit(Pool(x, labels, group_id=groups, feature_names=names))
        self.names_ = names
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        if not len(x):  # no post published before the request: CatBoost would print to stderr
            return np.zeros(0)
        return self.model_.predict(x, thread_count=1)

    def feature_importance(self) -> pd.DataFrame:
        importance = self.model_.get_feature_importance(type="PredictionValuesChange")
        return (pd.DataFrame({"feature": self.names_, "importance": importance})
                .sort_values("importance", ascending=False, ignore_index=True))


@dataclass
class FirstGeneratorOrder:
    """No learned ranker: the first generator's order (how the popularity baseline runs through the same code)."""

    rank_column: int  # the first generator's rank among the features

    def score(self, x: np.ndarray) -> np.ndarray:
        return -x[:, self.rank_column]

    def feature_importance(self) -> pd.DataFrame:
        return pd.DataFrame(columns=["feature", "importance"])


RANKERS: Parts[Ranker] = Parts("post feed ranker", {"catboost": CatBoostRanker})
