"""``recommender.cross_sell``: ``<source>.cross_sell.<model>`` per model in ``cross_sell.sources.<source>.models``."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Pipeline, node, pipeline

from socialml.components.recsys.cross_sell import model_spec
from socialml.components.recsys.recommenders import RECOMMENDERS
from socialml.pipelines.sources import comparison_nodes, family_pipeline, family_sources
from socialml.registry import project_code, project_requirements

from .nodes import (
    compare_cross_sell_models,
    cross_sell_intervals,
    evaluate_cross_sell,
    example_requests,
    fit_cross_sell,
    hide_held_out_products,
    offer_products,
    plot_learning_curve,
)


def _variant(source: str, model: str, trained_in_epochs: bool) -> Pipeline:
    curve = [node(plot_learning_curve, "rpt_cross_sell_epochs", "rpt_cross_sell_learning_chart",
                  name="plot_learning_curve", tags=["evaluation"])] if trained_in_epochs else []
    template = pipeline([*curve,
        node(evaluate_cross_sell, ["prm_clients", "mi_cross_sell_visible", "mi_cross_sell_hidden", "prm_holdings",
                                   "params:spec", "params:settings"],
             ["mo_cross_sell_scores", "rpt_cross_sell_scores", "rpt_cross_sell_epochs", "rpt_cross_sell_epoch_metrics"],
             name="evaluate",
             tags=["evaluation"]),
        node(fit_cross_sell, ["prm_clients", "prm_holdings", "feat_client_features", "params:spec", "params:settings"],
             "mdl_cross_sell", name="fit", tags=["training"]),
    ])
    return _namespaced(template, source, model)


def _namespaced(template: Pipeline, source: str, model: str) -> Pipeline:
    """``template`` as the ``<source>.cross_sell.<model>`` instance, reading the source's shared tables."""
    shared = {"prm_clients", "prm_holdings", "feat_client_features", "mi_cross_sell_visible",
              "mi_cross_sell_hidden"} & template.inputs()
    parameters = {"params:spec", "params:settings"} & template.inputs()
    return pipeline(template, namespace=f"{source}.cross_sell.{model}",
                    inputs={name: f"{source}.{name}" for name in shared},
                    parameters={name: {"params:spec": f"params:cross_sell.sources.{source}.models.{model}",
                                       "params:settings": f"params:cross_sell.sources.{source}"}[name]
                                for name in parameters})


def create_release_pipeline(params: dict[str, Any]) -> Pipeline:
    """``cross_sell_release``: the served variant's training and inference bound by kedro-mlflow's
    ``pipeline_ml_factory``. ``kedro run --pipelines cross_sell_release`` trains it and logs the inference
    pipeline, with the trained model as its artifact, as one MLflow model, registered as
    ``model_registry.cross_sell.release_name``; empty unless a cross-sell model is served (``serving.cross_sell``)
    and its source is in this environment."""
    from kedro_mlflow.pipeline import pipeline_ml_factory

    spec = (params.get("serving") or {}).get("cross_sell")
    if spec is None or spec["source"] not in family_sources("cross_sell", params):
        return Pipeline([])
    source, model = spec["source"], spec["model"]
    training = _namespaced(pipeline([
        node(fit_cross_sell, ["prm_clients", "prm_holdings", "feat_client_features", "params:spec", "params:settings"],
             "mdl_cross_sell_release", name="fit_release", tags=["training"]),
        node(example_requests, "mdl_cross_sell_release", "mi_cross_sell_requests", name="example_requests",
             tags=["training"]),
    ]), source, model)
    inference = _namespaced(pipeline([
        node(offer_products, ["mdl_cross_sell_release", "mi_cross_sell_requests"], "mo_cross_sell_offers",
             name="offer_products", tags=["inference"]),
    ]), source, model)
    return pipeline_ml_factory(
        training=training.tag(["cross_sell"]), inference=inference,
        input_name=f"{source}.cross_sell.{model}.mi_cross_sell_requests",
        log_model_kwargs={"name": "cross_sell_release", "code_paths": project_code(),
                          "pip_requirements": project_requirements(),
                          "registered_model_name": params["model_registry"]["cross_sell"]["release_name"]})


def create_pipeline(source: str, params: dict[str, Any]) -> Pipeline:
    """Empty unless ``cross_sell.sources`` has settings for the source."""
    settings = family_sources("cross_sell", params).get(source)
    if settings is None:
        return Pipeline([])
    models = settings["models"]
    for spec in models.values():  # a mistyped option fails now, not mid-run
        RECOMMENDERS.check(model_spec(spec)[0])
    hide = family_pipeline("cross_sell", [node(hide_held_out_products, ["prm_holdings", "params:settings"],
                                               ["mi_cross_sell_visible", "mi_cross_sell_hidden"],
                                               name="hide_held_out_products")],
                           namespace=source, parameters={"params:settings": f"params:cross_sell.sources.{source}"})
    compare = family_pipeline("cross_sell", comparison_nodes(
        "cross_sell", models, cross_sell_intervals, compare_cross_sell_models,
        interval_inputs={"visible": "mi_cross_sell_visible", "hidden": "mi_cross_sell_hidden",
                         "settings": "params:settings"},
        predictions="mo_cross_sell_scores", scores="rpt_cross_sell_scores", intervals_output="rpt_cross_sell_intervals",
        outputs=["rpt_cross_sell_comparison", "rpt_cross_sell_metrics"],
    ), namespace=source, parameters={"params:settings": f"params:cross_sell.sources.{source}"})
    return sum((_variant(source, m, "epochs" in spec) for m, spec in models.items()), hide + compare).tag(["cross_sell"])
