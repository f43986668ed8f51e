"""Data-quality evaluation: what every run logs about the tables it ingested."""

from __future__ import annotations

import numpy as np
import pandas as pd

from socialml.components.evaluation.tables import metric_payload


def data_quality_report(ingestion_report: pd.DataFrame, **tables: pd.DataFrame) -> pd.DataFrame:
    """One row per (table, column): rows, rejected rows of the table, and the column's null share.

    Empty strings and empty label lists count as nulls: they carry no information either.
    """
    rejected = ingestion_report.set_index("table")["rejected"]
    rows = []
    for name, frame in tables.items():
        table = name.removeprefix("prm_")
        for column in frame.columns:
            rows.append({
                "table": table,
                "column": column,
                "rows": len(frame),
                "rejected_rows": int(rejected.get(table, 0)),
                "null_share": round(_null_share(frame[column]), 6),
            })
    return pd.DataFrame(rows)


def _null_share(values: pd.Series) -> float:
    if values.empty:
        return 0.0
    present = values.dropna()
    if len(present) and isinstance(present.iloc[0], (list, tuple, np.ndarray)):
        return float(values.map(lambda v: v is None or len(v) == 0).mean())
    missing = values.isna()
    if pd.api.types.is_string_dtype(values) or values.dtype == object:
        missing |= values.astype("string").str.strip().eq("").fillna(False)
    return float(missing.mean())


def data_quality_metrics(quality: pd.DataFrame, ingestion_report: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Rows, null shares and rejections per table, as MLflow metrics."""
    metrics: dict[str, float] = {}
    for table, group in quality.groupby("table"):
        metrics[f"{table}/rows"] = float(group["rows"].iloc[0])
        metrics[f"{table}/mean_null_share"] = float(group["null_share"].mean())
    for row in ingestion_report.itertuples():
        metrics[f"{row.table}/rejected"] = float(row.rejected)
        metrics[f"{row.table}/duplicates"] = float(row.duplicates)
        metrics[f"{row.table}/rejected_share"] = float(row.rejected / max(row.candidate_rows, 1))
        if row.sampled_out:
            metrics[f"{row.table}/sampled_out"] = float(row.sampled_out)
    return metric_payload("", metrics)
