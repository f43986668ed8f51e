"""Feature enrichment for one source: each feature table is built when its canonical inputs exist."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Pipeline, node

from socialml.components.recsys.post_feed.model import source_reads_snapshots
from socialml.pipelines.sources import family_pipeline, family_sources, source_tables

from .nodes import build_client_features, build_feed_snapshots, build_viewer_history

PARAMS = "params:feature_enrichment"


def create_pipeline(source: str, params: dict[str, Any]) -> Pipeline:
    tables = source_tables(source, params)
    nodes = []
    if {"users", "feed_events", "posts"} <= tables:
        inputs = {"users": "prm_users", "feed_events": "prm_feed_events@engine", "posts": "prm_posts", "params": PARAMS,
                  "engine": "params:engine"}
        if "regions" in tables:
            inputs["regions"] = "prm_regions"
        feed_settings = family_sources("post_feed", params).get(source)
        if feed_settings is not None and source_reads_snapshots(feed_settings):
            inputs["feed_settings"] = f"params:post_feed.sources.{source}"
        nodes.append(node(build_feed_snapshots, inputs=inputs, outputs=["feat_user_snapshots", "feat_post_snapshots"],
                          name="build_feed_snapshots"))
    if {"views", "items"} <= tables:
        nodes.append(node(build_viewer_history, inputs=["prm_views@engine", "prm_items", "params:engine"],
                          outputs="feat_viewer_history", name="build_viewer_history"))
    if {"clients", "holdings"} <= tables:
        nodes.append(node(build_client_features, inputs=["prm_clients", "prm_holdings"],
                          outputs="feat_client_features", name="build_client_features"))
    if not nodes:
        return Pipeline([])
    parameters = {name for n in nodes for name in n.inputs if name.startswith("params:")}
    return family_pipeline("feature_enrichment", nodes, namespace=source, parameters=parameters or None,
                           tags=["feature_enrichment"])
