"""``recommender.post_feed``: ``<source>.post_feed.<variant>`` per model in ``post_feed.sources.<source>.models``.

Variants that set ``use_text`` take the source's PCA-reduced post embeddings; the others run
without the text pipeline, so the feed works on sources that have no text. Where every window the
variants learn from ends at a time cut, they read user and post features from the enrichment
pipeline's snapshots (``feat_user_snapshots``, ``feat_post_snapshots``).
"""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Pipeline, node, pipeline

from socialml.components.recsys.post_feed.model import configured_model, source_reads_snapshots
from socialml.pipelines.sources import comparison_nodes, family_pipeline, family_sources, primary_table

from .nodes import (
    compare_ab_groups,
    compare_post_feed_models,
    evaluate_post_feed,
    fit_post_feed,
    post_feed_intervals,
    score_post_feed,
    split_post_feed,
)

FEED_EVENTS = primary_table("feed_events")


def _variant(source: str, model: str, spec: dict[str, Any], snapshots: bool) -> Pipeline:
    """``snapshots``: the variant reads its user and post features from the enrichment pipeline's snapshots."""
    extra = {"post_vectors": "mi_post_embeddings_pca"} if spec.get("use_text") else {}
    if snapshots:
        extra |= {"user_snapshots": "feat_user_snapshots", "post_snapshots": "feat_post_snapshots"}
    common = {"posts": "prm_posts", "users": "prm_users", "spec": "params:spec", "settings": "params:settings", **extra}
    template = pipeline([
        node(evaluate_post_feed, {"history": "mi_feed_history", "requests": "mi_feed_requests", **common},
             "mo_post_feed_recommendations", name="evaluate", tags=["evaluation"]),
        node(score_post_feed, ["mo_post_feed_recommendations", "mi_feed_requests", "mi_feed_targets", "prm_posts",
                               "params:settings"], "rpt_post_feed_scores", name="score", tags=["evaluation"]),
        node(fit_post_feed, {"feed_events": FEED_EVENTS, **common}, ["mdl_post_feed", "rpt_post_feed_features"],
             name="fit", tags=["training"]),
    ])
    shared = ["prm_posts", "prm_users", "mi_feed_history", "mi_feed_requests", "mi_feed_targets", FEED_EVENTS,
              *extra.values()]
    return pipeline(template, namespace=f"{source}.post_feed.{model}",
                    inputs={name: f"{source}.{name}" for name in shared},
                    parameters={"params:spec": f"params:post_feed.sources.{source}.models.{model}",
                                "params:settings": f"params:post_feed.sources.{source}"})


def create_pipeline(source: str, params: dict[str, Any]) -> Pipeline:
    """Empty unless ``post_feed.sources`` has settings for the source."""
    settings = family_sources("post_feed", params).get(source)
    if settings is None:
        return Pipeline([])
    models = settings["models"]
    for spec in models.values():  # a mistyped option fails now, not mid-run
        configured_model(spec, settings)
    snapshots = source_reads_snapshots(settings)
    split = family_pipeline("post_feed", [node(split_post_feed, [FEED_EVENTS, "params:settings"],
                                               ["mi_feed_history", "mi_feed_requests", "mi_feed_targets"],
                                               name="split_post_feed")],
                            namespace=source, parameters={"params:settings": f"params:post_feed.sources.{source}"})
    compare = family_pipeline("post_feed", comparison_nodes(
        "post_feed", models, post_feed_intervals, compare_post_feed_models,
        interval_inputs={"requests": "mi_feed_requests", "targets": "mi_feed_targets", "settings": "params:settings"},
        predictions="mo_post_feed_recommendations", scores="rpt_post_feed_scores",
        intervals_output="rpt_post_feed_intervals", outputs=["rpt_post_feed_comparison", "rpt_post_feed_metrics"],
    ), namespace=source, parameters={"params:settings": f"params:post_feed.sources.{source}"})
    return sum((_variant(source, m, spec, snapshots) for m, spec in models.items()), split + compare).tag(["post_feed"])


def create_ab_test_pipeline(params: dict[str, Any]) -> Pipeline:
    """Compares the A/B groups of the feeds the service logged (not in the default run: it needs a log).

    Empty when the environment configures no A/B test (``post_feed.ab_test``).
    """
    ab_test = (params.get("post_feed") or {}).get("ab_test")
    if ab_test is None:
        return Pipeline([])
    source = ab_test["source"]
    compare = node(compare_ab_groups, ["raw_served_feed_log", FEED_EVENTS, "params:ab_test", "params:settings"],
                   ["rpt_ab_test", "rpt_ab_test_metrics", "rpt_ab_test_chart"], name="compare_ab_groups",
                   tags=["evaluation"])
    return family_pipeline("ab_test", [compare], namespace=source, inputs={"raw_served_feed_log"},
                           parameters={"params:ab_test": "params:post_feed.ab_test",
                                       "params:settings": f"params:post_feed.sources.{source}"}).tag(["ab_test"])
