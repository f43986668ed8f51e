"""Answer clustering for one source; sentiment comes from a labelled source's model or zero-shot anchors."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Node, Pipeline, node

from socialml.components.core.errors import SettingsError
from socialml.components.data.canonical import SENTIMENTS
from socialml.components.text.clustering import ClusteringConfig
from socialml.components.text.sentiment import checked_nearest_anchors, checked_share
from socialml.pipelines.sources import family_pipeline, is_generated, source_layout, source_tables

from .nodes import (
    answer_gold_groups,
    answer_sentiment_model,
    baseline_answer_clusters,
    cluster_answers,
    emoji_weight_option,
    generated_labelled_answers,
    held_out_sentiment_texts,
    labelled_answers,
    plot_cluster_map,
    plot_cluster_sizes,
    question_frame_model,
    score_answer_clusters,
    zero_shot_sentiment_model,
)

PARAMS = "params:clustering"
# Where a source's answers have no known sentiment, the blend's weight is chosen on the demo generator's
# survey answers, or on the sentiment source's held-out texts; each with the parameters it reads.
BLEND_TEXTS = {"generated_answers": ["params:demo_platform", "params:text_embedding"],
               "held_out_texts": ["params:sentiment"]}


def _blend_texts_node(has_truth: bool, chosen_on: str) -> Node:
    """The node giving the texts of known sentiment that the answers' blend weight is chosen on: the
    source's own answers where it is a generated platform, else as ``zero_shot_weight_chosen_on`` says."""
    if has_truth:
        return node(labelled_answers, ["prm_answers", "raw_truth_answer_groups", "mi_answer_embeddings"],
                    "mi_sentiment_blend_texts", name="labelled_answers")
    if chosen_on == "generated_answers":
        return node(generated_labelled_answers, BLEND_TEXTS[chosen_on], "mi_sentiment_blend_texts",
                    name="generated_labelled_answers")
    return node(held_out_sentiment_texts, ["sentiment_texts", "sentiment_embeddings", *BLEND_TEXTS[chosen_on]],
                "mi_sentiment_blend_texts", name="held_out_sentiment_texts")


def create_pipeline(source: str, params: dict[str, Any]) -> Pipeline:
    """Empty unless the source has answers. Sentiment comes from the source's own labelled texts
    where it has them, else from ``clustering.sentiment_source`` (or zero-shot anchors alone)."""
    tables = source_tables(source, params)
    if "answers" not in tables:
        return Pipeline([])
    ClusteringConfig.from_params(params["clustering"]["algorithm"])  # a mistyped option fails now, not mid-run
    checked_share("question_frame.weight", params["question_frame"]["weight"])
    emoji_weight = emoji_weight_option(params["clustering"])
    if emoji_weight != "auto":
        checked_share('clustering.emoji.weight (a number, or "auto")', emoji_weight)
    anchors = params["clustering"]["sentiment_anchors"]
    missing = [sentiment for sentiment in SENTIMENTS if not anchors.get(sentiment)]
    if missing:
        raise SettingsError(f"clustering.sentiment_anchors has no phrases for {missing}; every sentiment needs some")
    checked_nearest_anchors(params["clustering"]["zero_shot_nearest_anchors"],
                            min(len(anchors[sentiment]) for sentiment in SENTIMENTS))
    sentiment_source = source if "sentiment_texts" in tables else params["clustering"].get("sentiment_source")
    if sentiment_source is not None and sentiment_source not in params["sources"]:
        raise KeyError(f"clustering.sentiment_source '{sentiment_source}' is not one of this environment's sources")
    has_truth = is_generated(source, params)
    chosen_on = params["clustering"]["zero_shot_weight_chosen_on"]
    if chosen_on not in BLEND_TEXTS:
        raise SettingsError(f"clustering.zero_shot_weight_chosen_on must be one of {list(BLEND_TEXTS)}, "
                            f"got {chosen_on!r}")
    sentiment_inputs = {"zero_shot": "mdl_zero_shot_sentiment", "params": PARAMS}
    nodes = []
    if sentiment_source is not None:
        sentiment_inputs["head"] = "mdl_sentiment_model"
    # Weights set to auto are chosen on answers of known sentiment; the zero-shot's only beside a head.
    if emoji_weight == "auto" or (sentiment_source is not None and params["clustering"]["zero_shot_weight"] == "auto"):
        if sentiment_source is None and not has_truth and chosen_on == "held_out_texts":
            raise SettingsError("clustering.emoji.weight: auto is chosen on held-out sentiment texts "
                                f"(zero_shot_weight_chosen_on: held_out_texts), but source '{source}' has no sentiment "
                                "source: set clustering.sentiment_source, choose on generated_answers, or give the "
                                "weight as a number")
        sentiment_inputs["labelled"] = "mi_sentiment_blend_texts"
        nodes.append(_blend_texts_node(has_truth, chosen_on))
    nodes += [
        node(zero_shot_sentiment_model, ["mi_sentiment_anchor_embeddings", PARAMS], "mdl_zero_shot_sentiment",
             name="zero_shot_sentiment_model", tags=["training"]),
        node(answer_sentiment_model, sentiment_inputs, ["mdl_answer_sentiment", "rpt_answer_sentiment_blend"],
             name="answer_sentiment_model", tags=["training"]),
        node(question_frame_model, ["mi_question_frame_anchor_embeddings", PARAMS, "params:question_frame"],
             "mdl_question_frame", name="question_frame_model", tags=["training"]),
        node(cluster_answers, ["prm_answers", "mi_answer_cluster_embeddings", "mi_answer_embeddings",
                               "mdl_answer_sentiment", "mdl_question_frame", "mi_question_embeddings", PARAMS],
             ["mo_answer_clusters", "mo_clusters", "clustering.mdl_answer_clusterer"], name="cluster_answers",
             tags=["training", "inference"]),
        node(plot_cluster_map, ["mo_answer_clusters", "mo_clusters", PARAMS], "rpt_cluster_map", name="plot_cluster_map"),
        node(plot_cluster_sizes, ["mo_clusters", PARAMS], "rpt_cluster_sizes", name="plot_cluster_sizes"),
    ]
    # Gold groups: a generated platform's planted ones, else the answers' own where the layout maps `true_group`.
    has_gold_column = "true_group" in source_layout(source, params)["answers"].get("columns", {})
    if has_gold_column and not has_truth:
        nodes.append(node(answer_gold_groups, "prm_answers", "mi_answer_gold_groups", name="answer_gold_groups"))
    if has_truth or has_gold_column:
        truth = "raw_truth_answer_groups" if has_truth else "mi_answer_gold_groups"
        nodes += [
            node(baseline_answer_clusters, ["prm_answers", "mi_answer_cluster_embeddings", truth, PARAMS],
                 "mo_baseline_answer_clusters", name="baseline_answer_clusters", tags=["evaluation"]),
            node(score_answer_clusters, ["mo_answer_clusters", "mo_baseline_answer_clusters", truth, PARAMS],
                 ["rpt_clustering_quality", "rpt_clustering_comparison", "rpt_clustering_metrics"],
                 name="score_answer_clusters", tags=["evaluation"]),
        ]
    inputs = {}
    if sentiment_source is not None:
        inputs["mdl_sentiment_model"] = f"{sentiment_source}.mdl_sentiment_model"
    parameters = {PARAMS, "params:question_frame"}
    if not has_truth and "labelled" in sentiment_inputs:
        parameters.update(BLEND_TEXTS[chosen_on])
        if chosen_on == "held_out_texts":
            inputs.update(sentiment_texts=f"{sentiment_source}.prm_sentiment_texts",
                          sentiment_embeddings=f"{sentiment_source}.mi_sentiment_embeddings")
    return family_pipeline("clustering", nodes, namespace=source, inputs=inputs or None, parameters=parameters,
                           tags=["clustering"])
