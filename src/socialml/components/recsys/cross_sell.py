"""Seed 003's cross-sell: which products a client does not hold yet is most likely to take next.

Evaluation hides one product of every client holding ``min_products`` or more, fits on what
remains, and scores every product the client does not visibly hold: AUC per client (the hidden
product against the other unheld ones) averaged over clients, and HitRate@k.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from socialml.components.data.features import client_features
from socialml.components.evaluation.metrics import hidden_item_scores
from socialml.components.evaluation.protocols import hide_one_product
from socialml.components.recsys.recommenders import Interactions, build_recommender, cross_fitted_scores, top_k

MAX_CATEGORIES = 20  # one-hot columns kept per text attribute of a client


HOLDINGS_DERIVED = ("n_products", "days_since_last_product")  # client features computed from the holdings


def client_design(table: pd.DataFrame) -> pd.DataFrame:
    """Numeric client features indexed by client_id out of a ``client_features`` table: attributes (text ones
    one-hot), product count, recency.

    The holdings themselves are the models' interaction matrix, so their per-product flags are left out.
    """
    table = table.drop(columns=[c for c in table if c.startswith("holds_")]).set_index("client_id")
    text = [c for c in table if not pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])]
    parts = [table.drop(columns=text).astype(np.float32)]
    for column in text:
        top = table[column].value_counts().index[:MAX_CATEGORIES]
        parts.append(pd.get_dummies(table[column].where(table[column].isin(top)), prefix=column, dtype=np.float32))
    return pd.concat(parts, axis=1)


def interactions(clients: pd.DataFrame, holdings: pd.DataFrame, products: pd.Index | None = None,
                 features: pd.DataFrame | None = None) -> Interactions:
    """Clients × products held, with the clients' features: ``features`` (the enrichment pipeline's
    ``feat_client_features``, which must describe these very holdings) or, for holdings the evaluation
    derived (a product hidden per client), the same ``client_features`` computed from them."""
    if features is None:
        features = client_features(clients, holdings)
    else:
        _check_describes(features, clients, holdings)
    design = client_design(features)
    products = pd.Index(np.unique(holdings["product_id"])) if products is None else products
    return Interactions.from_pairs(holdings["client_id"], holdings["product_id"], design.index, products,
                                   user_features=design, matrix_derived=HOLDINGS_DERIVED)


def _check_describes(features: pd.DataFrame, clients: pd.DataFrame, holdings: pd.DataFrame) -> None:
    """A client table built from other clients or holdings (enrichment not rerun) stops the fit, naming it."""
    held = holdings.groupby("client_id")["product_id"].nunique()
    counts = features.set_index("client_id")["n_products"]
    if set(features["client_id"]) != set(clients["client_id"]) or not counts.reindex(held.index).eq(held).all():
        raise ValueError("feat_client_features does not describe the current clients and holdings "
                         f"({len(features)} clients in it, {len(clients)} now): "
                         "run the feature_enrichment pipeline again")


def select_epochs(spec: dict[str, Any], clients: pd.DataFrame, holdings: pd.DataFrame, products: pd.Index,
                  min_products: int, seed: int) -> dict[str, Any]:
    """For models trained in epochs: the epoch count with the best AUC on one more product hidden
    from ``holdings`` (early stopping that never sees the evaluation's own hidden products)."""
    if "epochs" not in spec:
        return spec
    visible, hidden = hide_one_product(holdings, min_products, seed + 1)
    data = interactions(clients, visible, products)
    rows = np.arange(len(data.user_ids))
    model = build_recommender(spec)
    model.fit(data, evaluate=lambda m: _held_out(m.score(rows), data, hidden, [1])["auc_per_client"])
    best = max(model.history_, key=lambda entry: entry["auc"])
    return {**spec, "epochs": int(best["epoch"])}


def evaluate(spec: dict[str, Any], clients: pd.DataFrame, visible: pd.DataFrame, hidden: pd.DataFrame,
             products: pd.Index, k_values: list[int], min_products: int = 2, seed: int = 0
             ) -> tuple[pd.DataFrame, dict[str, float], list[dict]]:
    """Scores of every client × product (clients × products frame), held-out quality, and the AUC after each epoch of the
    configured count (models that train in epochs; they stop at the epoch ``select_epochs`` picks, ``kept`` there)."""
    data = interactions(clients, visible, products)
    started = time.perf_counter()
    rows = np.arange(len(data.user_ids))
    curve: list[dict] = []
    spec, folds = model_spec(spec)
    if folds:
        complete = interactions(clients, pd.concat([visible, hidden]), products)
        scores = cross_fitted_scores(spec, data, folds, seed, train_data=complete)
    elif "epochs" in spec:
        picked = select_epochs(spec, clients, visible, products, min_products, seed)["epochs"]
        # The curve over all configured epochs, on the evaluation's hidden products: the seed's AUC-by-epochs
        # table. Training is seeded and has no schedule tied to the epoch count, so the curve's model after
        # the picked epoch is the model trained for that many epochs: its scores are kept, not fitted again.
        epochs_done, kept = itertools.count(1), {}

        def held_out_auc(model) -> float:
            epoch_scores = model.score(rows)
            if next(epochs_done) == picked:
                kept["scores"] = epoch_scores
            return _held_out(epoch_scores, data, hidden, k_values)["auc_per_client"]

        history = build_recommender(spec).fit(data, evaluate=held_out_auc).history_
        curve = [{**entry, "kept": entry["epoch"] == picked} for entry in history]
        scores = kept["scores"]
    else:
        scores = build_recommender(spec).fit(data).score(rows)
    quality = _held_out(scores, data, hidden, k_values)
    quality["fit_and_score_seconds"] = time.perf_counter() - started
    return pd.DataFrame(scores, index=data.user_ids, columns=data.item_ids), quality, curve


def _held_out(scores: np.ndarray, data: Interactions, hidden: pd.DataFrame, k_values: list[int]) -> dict[str, float]:
    return hidden_item_scores(scores, data.matrix, data.user_ids, data.item_ids, hidden, k_values)


def model_spec(spec: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """(the recommender's own parameters, ``cross_fit_folds``: how evaluation cross-fits it, if at all)."""
    options = dict(spec)
    return options, options.pop("cross_fit_folds", None)


@dataclass
class CrossSellModel:
    """A fitted model with its client and product ids: ranked unheld products per client."""

    model: Any
    data: Interactions

    @classmethod
    def fit(cls, spec: dict[str, Any], clients: pd.DataFrame, holdings: pd.DataFrame,
            features: pd.DataFrame | None = None, min_products: int = 2, seed: int = 0) -> CrossSellModel:
        """Fitted on every holding (epochs chosen as in evaluation), with the clients' features from
        ``features`` (``feat_client_features``) when given; serving scores unheld products."""
        options, _ = model_spec(spec)
        data = interactions(clients, holdings, features=features)
        options = select_epochs(options, clients, holdings, data.item_ids, min_products, seed)
        return cls(build_recommender(options).fit(data), data)

    @property
    def products(self) -> list[str]:
        return [str(p) for p in self.data.item_ids]

    def recommend(self, client_ids, k: int | None = None) -> pd.DataFrame:
        """client_id, rank, product_id, score for the k best unheld products of each client.

        A client the model has never seen gets the products by the share of clients holding them.
        """
        client_ids = pd.Index(client_ids)
        rows = self.data.user_ids.get_indexer(client_ids)
        known = rows >= 0
        k = len(self.data.item_ids) if k is None else k
        scores = np.tile(np.asarray(self.data.matrix.mean(axis=0)).ravel(), (len(rows), 1))
        if known.any():
            scores[known] = self.model.score(rows[known])
        # Held products of known clients; unknown clients hold nothing we know of.
        held = (sp.diags(known.astype(np.float32)) @ self.data.matrix[np.where(known, rows, 0)]).tocsr()
        chosen = top_k(scores, k, held)
        pos, rank = np.nonzero(chosen >= 0)
        cols = chosen[pos, rank]
        return pd.DataFrame({"client_id": client_ids[pos], "rank": rank + 1,
                             "product_id": self.data.item_ids[cols], "score": scores[pos, cols].astype(float)})

    def example_frame(self) -> pd.DataFrame:
        """An input ``predict_frame`` takes: two known clients (MLflow's input example and signature)."""
        return pd.DataFrame({"client_id": self.data.user_ids[:2]})

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """MLflow pyfunc face: a frame with client_id in, the ranked products out."""
        return self.recommend(frame["client_id"])
