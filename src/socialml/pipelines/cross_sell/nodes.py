"""Cross-sell nodes (seed 003): hide one product per client, score each variant on it, fit it on all holdings."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from socialml.components.evaluation.protocols import hide_one_product
from socialml.components.evaluation.tables import comparison_table, curve_payload
from socialml.components.recsys import cross_sell

logger = logging.getLogger(__name__)


def hide_held_out_products(holdings: pd.DataFrame, settings: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The visible holdings and one hidden product per client holding ``min_products`` or more."""
    protocol = settings["evaluation"]
    visible, hidden = hide_one_product(holdings, protocol["min_products"], protocol["seed"])
    if hidden.empty:
        raise ValueError(f"no client holds {protocol['min_products']} or more products: nothing to hide and score")
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
    curve = pd.DataFrame(curve, columns=["epoch", "auc"])
    return frame, quality, curve, curve_payload("auc_by_epoch", curve["epoch"], curve["auc"])


def fit_cross_sell(clients: pd.DataFrame, holdings: pd.DataFrame, spec: dict[str, Any], settings: dict[str, Any]
                   ) -> cross_sell.CrossSellModel:
    """The variant fitted on every holding: what serving loads."""
    protocol = settings["evaluation"]
    return cross_sell.CrossSellModel.fit(spec, clients, holdings, protocol["min_products"], protocol["seed"])


def example_requests(model: cross_sell.CrossSellModel) -> pd.DataFrame:
    """Requests the released inference pipeline takes (its input example and signature): known clients."""
    return model.example_frame()


def offer_products(model: cross_sell.CrossSellModel, requests: pd.DataFrame) -> pd.DataFrame:
    """The released inference pipeline: ranked products to offer each requested client."""
    return model.predict_frame(requests)


def compare_cross_sell_models(**scores: dict[str, float]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per variant, best AUC first, and the MLflow metrics of each."""
    return comparison_table([{"model": name, **s} for name, s in scores.items()], "auc_per_client", "cross_sell")
