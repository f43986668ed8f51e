"""Sentiment model for a source with labelled texts."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import fit_sentiment_model


def create_pipeline(source: str) -> Pipeline:
    return pipeline(
        [node(fit_sentiment_model, ["prm_sentiment_texts", "mi_sentiment_embeddings", "params:sentiment"],
              ["mdl_sentiment_model", "rpt_sentiment_quality", "rpt_sentiment_metrics"],
              name="fit_sentiment_model", tags=["training"])],
        namespace=source, parameters={"params:sentiment"}, tags=["sentiment"],
    )
