"""``recommender.cross_sell``: ``<source>.cross_sell.<model>`` per model in ``cross_sell.sources.<source>.models``."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Pipeline, node, pipeline

from socialml.components.recsys.cross_sell import model_spec
from socialml.components.recsys.recommenders import RECOMMENDERS
from socialml.pipelines.sources import family_sources

from .nodes import compare_cross_sell_models, evaluate_cross_sell, fit_cross_sell, hide_held_out_products


def _variant(source: str, model: str) -> Pipeline:
    shared = ["prm_clients", "prm_holdings", "mi_cross_sell_visible", "mi_cross_sell_hidden"]
    template = pipeline([
        node(evaluate_cross_sell, ["prm_clients", "mi_cross_sell_visible", "mi_cross_sell_hidden", "prm_holdings",
                                   "params:spec", "params:settings"],
             ["mo_cross_sell_scores", "rpt_cross_sell_scores", "rpt_cross_sell_epochs", "rpt_cross_sell_epoch_metrics"],
             name="evaluate",
             tags=["evaluation"]),
        node(fit_cross_sell, ["prm_clients", "prm_holdings", "params:spec", "params:settings"], "mdl_cross_sell",
             name="fit", tags=["training"]),
    ])
    return pipeline(template, namespace=f"{source}.cross_sell.{model}",
                    inputs={name: f"{source}.{name}" for name in shared},
                    parameters={"params:spec": f"params:cross_sell.sources.{source}.models.{model}",
                                "params:settings": f"params:cross_sell.sources.{source}"})


def create_pipeline(source: str, params: dict[str, Any]) -> Pipeline:
    """Empty unless ``cross_sell.sources`` has settings for the source."""
    settings = family_sources("cross_sell", params).get(source)
    if settings is None:
        return Pipeline([])
    models = settings["models"]
    for spec in models.values():  # a mistyped option fails now, not mid-run
        RECOMMENDERS.check(model_spec(spec)[0])
    hide = pipeline([node(hide_held_out_products, ["prm_holdings", "params:settings"],
                          ["mi_cross_sell_visible", "mi_cross_sell_hidden"], name="hide_held_out_products")],
                    namespace=source, parameters={"params:settings": f"params:cross_sell.sources.{source}"})
    compare = pipeline([node(compare_cross_sell_models, {m: f"cross_sell.{m}.rpt_cross_sell_scores" for m in models},
                             ["rpt_cross_sell_comparison", "rpt_cross_sell_metrics"],
                             name="compare_cross_sell_models", tags=["evaluation"])], namespace=source)
    return sum((_variant(source, m) for m in models), hide + compare).tag(["cross_sell"])
