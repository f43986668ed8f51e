"""Project pipelines, built from the ``sources`` configured for the run's environment.

Each source (``sources`` in parameters_ingestion.yml) gets a namespaced instance of every
pipeline whose canonical inputs its layout provides, so kedro viz shows one block per source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from kedro.pipeline import Pipeline

from socialml.pipelines import (
    audience,
    clustering,
    cross_sell,
    evaluation,
    feature_enrichment,
    ingestion,
    post_feed,
    sentiment,
    text_embedding,
    topics,
)

_parameters: dict[str, Any] | None = None


def use_parameters(parameters: dict[str, Any]) -> None:
    """Called by ActiveEnvironmentHook with the parameters of the run's context."""
    global _parameters
    _parameters = parameters


def _load_parameters() -> dict[str, Any]:
    if _parameters is not None:
        return _parameters
    # Outside a Kedro session (e.g. ``kedro registry list``): base + local configuration.
    conf = Path(__file__).resolve().parents[2] / "conf"
    return OmegaConfigLoader(str(conf), base_env="base", default_run_env="local")["parameters"]


def register_pipelines() -> dict[str, Pipeline]:
    params = _load_parameters()
    layouts = params["ingestion"]["layouts"]
    families = ("ingestion", "feature_enrichment", "text_embedding", "sentiment", "clustering", "topics", "audience",
                "post_feed", "cross_sell", "evaluation")
    registry: dict[str, Pipeline] = {name: Pipeline([]) for name in families}
    fallback_sentiment = params["clustering"].get("sentiment_source")
    needs_fallback = any("answers" in layouts.get(spec["layout"], {}) and "sentiment_texts" not in layouts[spec["layout"]]
                         for spec in params["sources"].values())
    if needs_fallback and fallback_sentiment not in params["sources"]:
        raise KeyError(f"clustering.sentiment_source '{fallback_sentiment}' is not one of this environment's sources")
    for source, source_spec in params["sources"].items():
        layout_name = source_spec["layout"]
        if layout_name not in layouts:
            raise KeyError(f"source '{source}' uses layout '{layout_name}', not in ingestion.layouts: {sorted(layouts)}")
        layout = layouts[layout_name]
        tables = set(layout)
        registry["ingestion"] += ingestion.create_pipeline(source, layout_name, layout, source_spec.get("generate", False))
        registry["feature_enrichment"] += feature_enrichment.create_pipeline(source, tables)
        registry["text_embedding"] += text_embedding.create_pipeline(source, tables)
        if "sentiment_texts" in tables:
            registry["sentiment"] += sentiment.create_pipeline(source)
        if "answers" in tables:
            # Sentiment from the source's own labelled texts where it has them, else from the configured one.
            sentiment_source = source if "sentiment_texts" in tables else fallback_sentiment
            registry["clustering"] += clustering.create_pipeline(source, sentiment_source,
                                                                 has_truth=source_spec.get("generate", False))
        if source in params["topics"]["sources"]:
            registry["topics"] += topics.create_pipeline(source, list(params["topics"]["models"]))
        if source in params["audience"]["sources"]:
            registry["audience"] += audience.create_pipeline(source, list(params["audience"]["models"]))
        if source in params["post_feed"]["sources"]:
            registry["post_feed"] += post_feed.create_pipeline(source, params["post_feed"]["sources"][source])
        if source in params["cross_sell"]["sources"]:
            registry["cross_sell"] += cross_sell.create_pipeline(source, params["cross_sell"]["sources"][source])
        registry["evaluation"] += evaluation.create_pipeline(source, tables)
    registry["__default__"] = sum(registry.values(), Pipeline([]))
    # Not in the default run either: compares the A/B groups of the feeds the service logged.
    registry["ab_test"] = post_feed.create_ab_test_pipeline(params["post_feed"]["ab_test"]["source"])
    # Not part of the default run: fills a source's raw storage (a database, say) with the demo platform.
    registry["publish_demo_platform"] = sum(
        (ingestion.create_publish_pipeline(source) for source, spec in params["sources"].items()
         if spec["layout"] == "demo_platform" and not spec.get("generate", False)),
        Pipeline([]),
    )
    return registry
