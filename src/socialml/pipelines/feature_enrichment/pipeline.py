"""Feature enrichment for one source: each feature table is built when its canonical inputs exist."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Pipeline, node, pipeline

from socialml.pipelines.sources import source_tables

from .nodes import build_client_features, build_post_features, build_user_features, build_viewer_history

PARAMS = "params:feature_enrichment"


def create_pipeline(source: str, params: dict[str, Any]) -> Pipeline:
    tables = source_tables(source, params)
    nodes = []
    if {"users", "feed_events", "posts"} <= tables:
        inputs = {"users": "prm_users", "feed_events": "prm_feed_events", "posts": "prm_posts", "params": PARAMS}
        if "regions" in tables:
            inputs["regions"] = "prm_regions"
        nodes.append(node(build_user_features, inputs=inputs, outputs="feat_user_features", name="build_user_features"))
    if {"posts", "feed_events"} <= tables:
        nodes.append(node(build_post_features, inputs=["prm_posts", "prm_feed_events", PARAMS],
                          outputs="feat_post_features", name="build_post_features"))
    if {"views", "items"} <= tables:
        nodes.append(node(build_viewer_history, inputs=["prm_views", "prm_items"],
                          outputs="feat_viewer_history", name="build_viewer_history"))
    if {"clients", "holdings"} <= tables:
        nodes.append(node(build_client_features, inputs=["prm_clients", "prm_holdings"],
                          outputs="feat_client_features", name="build_client_features"))
    if not nodes:
        return Pipeline([])
    uses_params = any(PARAMS in n.inputs for n in nodes)
    return pipeline(nodes, namespace=source, parameters={PARAMS} if uses_params else None, tags=["feature_enrichment"])
