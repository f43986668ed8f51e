"""Sentiment model for a source with labelled texts."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Pipeline, node

from socialml.pipelines.sources import family_pipeline, source_tables

from .nodes import fit_sentiment_model


def create_pipeline(source: str, params: dict[str, Any]) -> Pipeline:
    """Empty unless the source has labelled sentiment texts."""
    if "sentiment_texts" not in source_tables(source, params):
        return Pipeline([])
    return family_pipeline(
        "sentiment",
        [node(fit_sentiment_model, ["prm_sentiment_texts", "mi_sentiment_embeddings", "params:sentiment"],
              ["mdl_sentiment_model", "rpt_sentiment_quality", "rpt_sentiment_metrics", "rpt_sentiment_confusion_chart"],
              name="fit_sentiment_model", tags=["training"])],
        namespace=source, parameters={"params:sentiment"}, tags=["sentiment"],
    )
