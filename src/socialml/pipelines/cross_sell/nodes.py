"""Cross-sell nodes (seed 003): hide one product per client, score each variant on it, fit it on all holdings."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from socialml.components import cross_sell

logger = logging.getLogger(__name__)


def hide_held_out_products(holdings: pd.DataFrame, settings: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The visible holdings and one hidden product per client holding ``min_products`` or more."""
    protocol = settings["evaluation"]
    visible, hidden = cross_sell.hide_one_product(holdings, protocol["min_products"], protocol["seed"])
    if hidden.empty:
        raise ValueError(f"no client holds {protocol['min_products']} or more products: nothing to hide and score")
    logger.info("cross-sell: %d products hidden, %d holdings visible", len(hidden), len(visible))
    return visible, hidden


def evaluate_cross_sell(clients: pd.DataFrame, visible: pd.DataFrame, hidden: pd.DataFrame, holdings: pd.DataFrame,
                        spec: dict[str, Any], settings: dict[str, Any]
                        ) -> tuple[pd.DataFrame, dict[str, float], pd.DataFrame]:
    """Every client × product score, the held-out AUC and HitRate@k, and AUC after each epoch."""
    protocol = settings["evaluation"]
    products = pd.Index(np.unique(holdings["product_id"]))
    scores, quality, curve = cross_sell.evaluate(spec, clients, visible, hidden, products, settings["k"],
                                                 protocol["min_products"], protocol["seed"])
    client_ids = cross_sell.client_design(clients, visible).index
    frame = pd.DataFrame({"client_id": np.repeat(client_ids, len(products)),
                          "product_id": np.tile(products, len(client_ids)), "score": scores.ravel()})
    return frame, quality, pd.DataFrame(curve, columns=["epoch", "auc"])


def fit_cross_sell(clients: pd.DataFrame, holdings: pd.DataFrame, spec: dict[str, Any], settings: dict[str, Any]
                   ) -> cross_sell.CrossSellModel:
    """The variant fitted on every holding: what serving loads."""
    protocol = settings["evaluation"]
    return cross_sell.CrossSellModel.fit(spec, clients, holdings, protocol["min_products"], protocol["seed"])


def compare_cross_sell_models(**scores: dict[str, float]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per variant, best AUC first, and the MLflow metrics of each."""
    table = pd.DataFrame([{"model": name, **values} for name, values in scores.items()])
    table = table.sort_values("auc_per_client", ascending=False, ignore_index=True)
    metrics = {f"cross_sell.{row['model']}.{metric}": {"value": float(row[metric]), "step": 0}
               for row in table.to_dict("records") for metric in table.columns.drop("model")}
    return table, metrics
