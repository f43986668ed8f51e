"""Evaluation for one source. Later systems add their model scores here; the data-quality report is always on."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Pipeline, node

from socialml.pipelines.sources import family_pipeline, primary_table, source_tables

from .nodes import data_quality_metrics, data_quality_report


def create_pipeline(source: str, params: dict[str, Any]) -> Pipeline:
    tables = source_tables(source, params)
    table_inputs = {f"prm_{t}": primary_table(t) for t in sorted(tables)}
    return family_pipeline(
        "evaluation",
        [
            node(data_quality_report, inputs={"ingestion_report": "rpt_ingestion", **table_inputs},
                 outputs="rpt_data_quality", name="data_quality_report"),
            node(data_quality_metrics, inputs=["rpt_data_quality", "rpt_ingestion"],
                 outputs="rpt_data_quality_metrics", name="data_quality_metrics"),
        ],
        namespace=source,
        tags=["evaluation"],
    )
