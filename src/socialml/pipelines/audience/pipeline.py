"""``classification.audience``: one namespaced instance per model variant (``audience.models`` in parameters)."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Pipeline, node, pipeline

from socialml.components.audience.models import AUDIENCE_MODELS
from socialml.pipelines.sources import checked_models, family_pipeline, family_sources, primary_table

from .nodes import (
    compare_audience_models, cross_validate_audience, fit_audience_model, plot_audience_confusion,
    prepare_audience_targets,
)


VIEWS = primary_table("views")


def _model_pipeline(source: str, model: str) -> Pipeline:
    template = pipeline([
        node(cross_validate_audience, [VIEWS, "prm_items", "feat_viewer_history", "mi_audience_targets",
                                       "params:spec", "params:audience"],
             ["mo_audience_predictions", "rpt_audience_scores"],
             name="cross_validate", tags=["evaluation"]),
        node(plot_audience_confusion, ["mo_audience_predictions", "mi_audience_targets", "params:audience"],
             "rpt_audience_confusion_chart", name="plot_confusion", tags=["evaluation"]),
        node(fit_audience_model, [VIEWS, "prm_items", "feat_viewer_history", "mi_audience_targets", "params:spec",
                                  "params:audience"], "mdl_audience_model", name="fit", tags=["training"]),
    ])
    shared = (VIEWS, "prm_items", "feat_viewer_history", "mi_audience_targets")
    return pipeline(template, namespace=f"{source}.audience.{model}",
                    inputs={name: f"{source}.{name}" for name in shared},
                    parameters={"params:spec": f"params:audience.models.{model}", "params:audience": "params:audience"})


def create_pipeline(source: str, params: dict[str, Any]) -> Pipeline:
    """Empty unless ``audience.sources`` lists the source."""
    if source not in family_sources("audience", params):
        return Pipeline([])
    models = checked_models("audience", AUDIENCE_MODELS, params)
    prepare = family_pipeline("audience", [node(prepare_audience_targets, ["prm_users", VIEWS, "params:audience"],
                                                "mi_audience_targets", name="prepare_audience_targets")],
                              namespace=source, parameters={"params:audience"})
    compare_inputs = {"targets": "mi_audience_targets", "params": "params:audience",
                      **{m: f"audience.{m}.mo_audience_predictions" for m in models}}
    compare = family_pipeline("audience", [node(compare_audience_models, compare_inputs,
                                                ["rpt_audience_comparison", "rpt_audience_metrics"],
                                                name="compare_audience_models", tags=["evaluation"])],
                              namespace=source, parameters={"params:audience"})
    return sum((_model_pipeline(source, m) for m in models), prepare + compare).tag(["audience"])
