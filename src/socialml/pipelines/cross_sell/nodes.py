"""Cross-sell nodes (seed 003): hide one product per client, score each variant on it, fit it on all holdings."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from socialml.components.core.errors import DataStop
from socialml.components.evaluation.charts import learning_curve_figure
from socialml.components.evaluation.metrics import (
    bootstrap_intervals, comparison_reference, hidden_item_ranks, hidden_item_summary, interval_columns,
)
from socialml.components.evaluation.protocols import hide_one_product
from socialml.components.recsys.recommenders import Interactions
from socialml.components.evaluation.tables import comparison_table, curve_payload
from socialml.components.recsys import cross_sell

logger = logging.getLogger(__name__)


def hide_held_out_products(holdings: pd.DataFrame, settings: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The visible holdings and one hidden product per client holding ``min_products`` or more."""
    protocol = settings["evaluation"]
    visible, hidden = hide_one_product(holdings, protocol["min_products"], protocol["seed"])
    if hidden.empty:
        raise DataStop(f"holdings: no client holds {protocol['min_products']} or more products: nothing to hide "
                       "and score")
    logger.info("cross-sell: %d products hidden, %d holdings visible", len(hidden), len(visible))
    return visible, hidden


def evaluate_cross_sell(clients: pd.DataFrame, visible: pd.DataFrame, hidden: pd.DataFrame, holdings: pd.DataFrame,
                        spec: dict[str, Any], settings: dict[str, Any]
                        ) -> tuple[pd.DataFrame, dict[str, float], pd.DataFrame, dict[str, Any]]:
    """Every client × product score, the held-out AUC and HitRate@k, and AUC after each epoch (a table,
    and an MLflow metric with one step per epoch)."""
    protocol = settings["evaluation"]
    products = pd.Index(np.unique(holdings["product_id"]))
    scores, quality, curve = cross_sell.evaluate(spec, clients, visible, hidden, products, settings["k"],
                                                 protocol["min_products"], protocol["seed"])
    frame = scores.rename_axis(index="client_id", columns="product_id").stack().rename("score").reset_index()
    curve = pd.DataFrame(curve, columns=["epoch", "auc", "kept"])
    return frame, quality, curve, curve_payload("auc_by_epoch", curve["epoch"], curve["auc"])


def plot_learning_curve(epochs: pd.DataFrame):
    """Held-out AUC after each epoch (the model stops at its best epoch on one more hidden product)."""
    return learning_curve_figure(epochs, "Cross-sell: held-out AUC per client after each epoch", kept="kept")


def fit_cross_sell(clients: pd.DataFrame, holdings: pd.DataFrame, features: pd.DataFrame, spec: dict[str, Any],
                   settings: dict[str, Any]) -> cross_sell.CrossSellModel:
    """The variant fitted on every holding, with the clients' features from the enrichment table: what
    serving loads."""
    protocol = settings["evaluation"]
    return cross_sell.CrossSellModel.fit(spec, clients, holdings, features, protocol["min_products"], protocol["seed"])


def example_requests(model: cross_sell.CrossSellModel) -> pd.DataFrame:
    """Requests the released inference pipeline takes (its input example and signature): known clients."""
    return model.example_frame()


def offer_products(model: cross_sell.CrossSellModel, requests: pd.DataFrame) -> pd.DataFrame:
    """The released inference pipeline: ranked products to offer each requested client."""
    return model.predict_frame(requests)


def cross_sell_intervals(visible: pd.DataFrame, hidden: pd.DataFrame, settings: dict[str, Any],
                         **scores: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per model, 95 % bootstrap intervals (clients resampled, the same draws for every model) of its AUC per
    client and HitRate@k, and of its AUC's gain over the baseline (``baseline``, else the first model): a
    paired difference."""
    baseline, runs = comparison_reference(settings, list(scores))
    ranks = {name: _hidden_ranks(frame, visible, hidden) for name, frame in scores.items()}
    base = ranks[baseline]
    out = {}
    for name, rank in ranks.items():
        if not rank["client_id"].equals(base["client_id"]):
            raise ValueError(f"cross_sell models {name!r} and {baseline!r} scored different clients")

        def score(rows: np.ndarray, rank: pd.DataFrame = rank) -> dict[str, float]:
            summary = hidden_item_summary(rank.iloc[rows], settings["k"])
            summary.pop("clients_scored")  # the same in every resample
            return {**summary, "gain": summary["auc_per_client"] - np.nanmean(base["auc"].to_numpy()[rows])}

        intervals = bootstrap_intervals(score, len(rank), runs=runs)
        gain = float(np.nanmean(rank["auc"]) - np.nanmean(base["auc"]))
        out[name] = interval_columns(intervals, gain, baseline)
    return out


def _hidden_ranks(scores: pd.DataFrame, visible: pd.DataFrame, hidden: pd.DataFrame) -> pd.DataFrame:
    matrix = scores.pivot(index="client_id", columns="product_id", values="score")
    held = Interactions.from_pairs(visible["client_id"], visible["product_id"], matrix.index, matrix.columns).matrix
    return hidden_item_ranks(matrix.to_numpy(), held, matrix.index, matrix.columns, hidden)


def compare_cross_sell_models(intervals: dict[str, dict[str, float]], **scores: dict[str, float]
                              ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per variant, best AUC first, with its intervals, and the MLflow metrics of each."""
    return comparison_table([{"model": name, **s, **intervals[name]} for name, s in scores.items()],
                            "auc_per_client", "cross_sell")
