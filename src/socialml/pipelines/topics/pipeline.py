"""``classification.topics``: one namespaced instance per model, all compared on the same test split.

Models come from ``topics.models`` in parameters; kedro viz shows each as ``<source>.topics.<model>``. A
model ``{kind: ensemble, of_models: [...]}`` reads the other models it names, trained once, instead of training.
"""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Pipeline, node, pipeline

from socialml.components.core.errors import SettingsError
from socialml.components.text.topics import TOPIC_CLASSIFIERS, checked_shrinkage
from socialml.pipelines.sources import checked_models, comparison_nodes, family_pipeline, family_sources

from .nodes import (
    combine_topic_models, compare_topic_models, evaluate_topic_model, prepare_topic_dataset, topic_intervals,
    train_topic_model,
)


def _model_pipeline(source: str, model: str, spec: dict[str, Any]) -> Pipeline:
    trained = spec.get("of_models") or []  # an ensemble of other variants averages their trained models
    train = (node(train_topic_model, ["mi_topic_dataset", "mi_post_embeddings", "params:spec", "params:topics"],
                  "mdl_topic_classifier", name="train", tags=["training"]) if not trained else
             node(combine_topic_models, {"dataset": "mi_topic_dataset", "embeddings": "mi_post_embeddings",
                                         "spec": "params:spec", "params": "params:topics",
                                         **{f"trained_{m}": f"trained_{m}" for m in trained}},
                  "mdl_topic_classifier", name="train", tags=["training"]))
    template = pipeline([
        train,
        node(evaluate_topic_model, ["mdl_topic_classifier", "mi_topic_dataset", "mi_post_embeddings"],
             ["rpt_topic_scores", "mo_topic_test_predictions", "rpt_topic_pr_chart"], name="evaluate",
             tags=["evaluation"]),
    ])
    return pipeline(
        template,
        namespace=f"{source}.topics.{model}",
        inputs={"mi_topic_dataset": f"{source}.mi_topic_dataset", "mi_post_embeddings": f"{source}.mi_post_embeddings",
                **{f"trained_{m}": f"{source}.topics.{m}.mdl_topic_classifier" for m in trained}},
        parameters={"params:spec": f"params:topics.models.{model}", "params:topics": "params:topics"},
    )


def _check_ensembles_of_models(models: dict[str, dict[str, Any]]) -> None:
    """An ensemble's ``of_models`` must name other models of the list that are trained, not ensembles of models."""
    for name, spec in models.items():
        for member in spec.get("of_models") or []:
            if member not in models or member == name or models[member].get("of_models"):
                raise SettingsError(f"topics model {name!r}: of_models entry {member!r} must name another model of "
                                    f"topics.models that is not itself made of_models; the models are {sorted(models)}")


def create_pipeline(source: str, params: dict[str, Any]) -> Pipeline:
    """Empty unless ``topics.sources`` lists the source."""
    if source not in family_sources("topics", params):
        return Pipeline([])
    models = checked_models("topics", TOPIC_CLASSIFIERS, params)
    _check_ensembles_of_models(params["topics"]["models"])
    checked_shrinkage(params["topics"].get("threshold_shrinkage", 0.0))
    prepare = family_pipeline("topics", [node(prepare_topic_dataset, ["prm_posts", "params:topics"], "mi_topic_dataset",
                                              name="prepare_topic_dataset")],
                              namespace=source, parameters={"params:topics"})
    compare = family_pipeline("topics", comparison_nodes(
        "topics", models, topic_intervals, compare_topic_models,
        interval_inputs={"dataset": "mi_topic_dataset", "params": "params:topics"},
        predictions="mo_topic_test_predictions", scores="rpt_topic_scores", intervals_output="rpt_topic_intervals",
        outputs=["rpt_topics_comparison", "rpt_topics_per_label", "rpt_topics_metrics"],
    ), namespace=source, parameters={"params:topics"})
    return sum((_model_pipeline(source, m, params["topics"]["models"][m]) for m in models), prepare + compare).tag(["topics"])
