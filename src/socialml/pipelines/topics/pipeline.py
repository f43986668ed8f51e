"""``classification.topics``: one namespaced instance per model, all compared on the same test split.

Models come from ``topics.models`` in parameters; kedro viz shows each as ``<source>.topics.<model>``.
"""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Pipeline, node, pipeline

from socialml.components.text.topics import TOPIC_CLASSIFIERS
from socialml.pipelines.sources import checked_models, comparison_nodes, family_pipeline, family_sources

from .nodes import compare_topic_models, evaluate_topic_model, prepare_topic_dataset, topic_intervals, train_topic_model


def _model_pipeline(source: str, model: str) -> Pipeline:
    template = pipeline([
        node(train_topic_model, ["mi_topic_dataset", "mi_post_embeddings", "params:spec", "params:topics"],
             "mdl_topic_classifier", name="train",
             tags=["training"]),
        node(evaluate_topic_model, ["mdl_topic_classifier", "mi_topic_dataset", "mi_post_embeddings"],
             ["rpt_topic_scores", "mo_topic_test_predictions", "rpt_topic_pr_chart"], name="evaluate",
             tags=["evaluation"]),
    ])
    return pipeline(
        template,
        namespace=f"{source}.topics.{model}",
        inputs={"mi_topic_dataset": f"{source}.mi_topic_dataset", "mi_post_embeddings": f"{source}.mi_post_embeddings"},
        parameters={"params:spec": f"params:topics.models.{model}", "params:topics": "params:topics"},
    )


def create_pipeline(source: str, params: dict[str, Any]) -> Pipeline:
    """Empty unless ``topics.sources`` lists the source."""
    if source not in family_sources("topics", params):
        return Pipeline([])
    models = checked_models("topics", TOPIC_CLASSIFIERS, params)
    prepare = family_pipeline("topics", [node(prepare_topic_dataset, ["prm_posts", "params:topics"], "mi_topic_dataset",
                                              name="prepare_topic_dataset")],
                              namespace=source, parameters={"params:topics"})
    compare = family_pipeline("topics", comparison_nodes(
        "topics", models, topic_intervals, compare_topic_models,
        interval_inputs={"dataset": "mi_topic_dataset", "params": "params:topics"},
        predictions="mo_topic_test_predictions", scores="rpt_topic_scores", intervals_output="rpt_topic_intervals",
        outputs=["rpt_topics_comparison", "rpt_topics_per_label", "rpt_topics_metrics"],
    ), namespace=source, parameters={"params:topics"})
    return sum((_model_pipeline(source, m) for m in models), prepare + compare).tag(["topics"])
