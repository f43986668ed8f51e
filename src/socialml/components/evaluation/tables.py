"""Comparison tables of model variants and the MLflow metric payloads of their scores, one way for every system."""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

NOT_IN_METRIC_NAMES = re.compile(r"[^\w\-. :/]", re.ASCII)  # what MLflow refuses in a metric name


def metric_payload(prefix: str, values: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """kedro-mlflow's metrics payload, ``{prefix}/{name}: {"value", "step": 0}`` (no prefix: ``name``), for
    every finite number among ``values``; characters MLflow refuses in a name become ``_`` (``f1_56+`` → ``f1_56_``).
    The metrics dataset puts the source (the namespace) in front: ``demo/topics/tfidf_logreg/micro_f1``."""
    return {NOT_IN_METRIC_NAMES.sub("_", f"{prefix}/{name}" if prefix else name): {"value": float(value), "step": 0}
            for name, value in values.items()
            if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and np.isfinite(value)}


def curve_payload(name: str, steps: Sequence[int], values: Sequence[float]) -> dict[str, list[dict[str, float]]]:
    """A metric with one point per step (an epoch curve), finite points only."""
    points = [{"value": float(v), "step": int(s)} for s, v in zip(steps, values) if np.isfinite(v)]
    return {NOT_IN_METRIC_NAMES.sub("_", name): points} if points else {}


def learning_curve_payload(prefix: str, training_record: Mapping[str, Any]) -> dict[str, list[dict[str, float]]]:
    """``{prefix}/validation_loss_by_epoch``, epochs counted from 1, from a fine-tuned model's ``training_record``
    (nothing when it has none)."""
    losses = training_record.get("validation_loss_by_epoch") or []
    return curve_payload(f"{prefix}/validation_loss_by_epoch", range(1, len(losses) + 1), losses)


def comparison_table(rows: Sequence[Mapping[str, Any]], sort_by: str | Sequence[str], prefix: str,
                     keys: Sequence[str] = ("model",), ascending: bool | Sequence[bool] = False
                     ) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """One row per variant (and per value of the other ``keys``, e.g. the audience's target), sorted
    best first, and every finite score as an MLflow metric ``{prefix}/{key values}/{score}``. The table
    keeps its ranking metric and its groups in ``attrs`` (``ranked_by``, ``groups``) for ``leaders``."""
    table = pd.DataFrame(list(rows))
    table = table.sort_values(list(np.atleast_1d(sort_by)), ascending=ascending, ignore_index=True)
    table.attrs.update(ranked_by=list(np.atleast_1d(sort_by))[-1], groups=[key for key in keys if key != "model"])
    metrics: dict[str, dict[str, float]] = {}
    for row in table.to_dict("records"):
        name = "/".join(str(row[key]) for key in keys)
        metrics.update(metric_payload(f"{prefix}/{name}", {k: v for k, v in row.items() if k not in keys}))
    return table, metrics


def leaders(table: pd.DataFrame) -> list[tuple[str, str]]:
    """What a ``comparison_table`` found, per group (its key values joined, "" without groups): the leading
    model with its ranking metric and interval, and its gain over the table's baseline with the paired
    interval (none where the baseline leads). Nothing for a table not made by ``comparison_table``, nor for
    one cut from it (pandas carries ``attrs`` into a slice that may lack the model or its metric)."""
    metric, groups = table.attrs.get("ranked_by"), table.attrs.get("groups") or []
    if metric is None or table.empty or not {"model", metric, *groups} <= set(table.columns):
        return []
    firsts = table.groupby(groups, sort=False).head(1) if groups else table.head(1)
    baseline = next((column.removeprefix("gain_vs_") for column in table if column.startswith("gain_vs_")), None)
    found = []
    for row in firsts.to_dict("records"):
        text = f"{row['model']}, {metric} {row[metric]:.3f}"
        if {f"{metric}_low", f"{metric}_high"} <= row.keys():
            text += f" [{row[f'{metric}_low']:.3f}, {row[f'{metric}_high']:.3f}]"
        if baseline is not None and row["model"] != baseline:
            text += (f", {row[f'gain_vs_{baseline}']:+.3f} [{row['gain_low']:+.3f}, {row['gain_high']:+.3f}]"
                     f" over {baseline}")
        found.append((", ".join(str(row[group]) for group in groups), text))
    return found
