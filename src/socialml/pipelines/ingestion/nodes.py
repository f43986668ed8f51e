"""Ingestion nodes: generate the demo platform, adapt and validate each canonical table, report."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd

from socialml.components.data.demo_platform import DemoPlatformConfig, generate_demo_platform
from socialml.components.data.engine_ingest import ingest_on_engine
from socialml.components.data.engines import ENGINES
from socialml.components.data.ingest import (
    ROW,
    Checks,
    EmptySourceError,
    TimeReading,
    adapt,
    enforce_checks,
    expand_partitions,
    rows_in_files,
    sample_rows,
    stacked_partitions,
    validate,
)

RAW_PREFIX, REF_PREFIX, REJECTED_REF_PREFIX = "raw_", "ref_", "rejected_ref_"
logger = logging.getLogger(__name__)


def generate_platform(config: dict[str, Any]) -> dict[str, pd.DataFrame]:
    tables = generate_demo_platform(DemoPlatformConfig(**config))
    logger.info("demo platform: %s", ", ".join(f"{name} {len(frame):,}" for name, frame in tables.items()))
    return tables


def ingest_table(table: str, spec: dict[str, Any], checks: dict[str, Any] | None = None, *, source: str = "",
                 **inputs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Adapt the raw frames (``raw_*`` inputs) into ``table``, checking keys against ``ref_*`` tables.

    ``rejected_ref_*`` inputs are those tables' rejected rows, so a row that points at one says why
    it went; ``checks`` (``ingestion.checks``, overridden by the table's own) stop the run when the
    table lost too much. ``source`` names the table's source in the log and in a stop (several sources may
    each have posts). A layout's ``sample`` then keeps a part of the accepted rows.
    """
    name = _named(source, table)
    table_checks = Checks.from_config(checks, spec.get("checks"))
    with _empty_source_named(source):
        spec, raw = expand_partitions(table, spec, _strip(inputs, RAW_PREFIX))
        adapted = adapt(table, spec, raw)
    accepted, rejected = validate(table, adapted, _strip(inputs, REF_PREFIX), spec.get("leak_guard"),
                                  spec.get("id_types"), table_checks, _strip(inputs, REJECTED_REF_PREFIX),
                                  TimeReading.of(spec))
    counts = _counts(table, name, sum(len(frame) for frame in raw.values()), len(adapted), len(rejected), rejected)
    enforce_checks(name, len(adapted), len(accepted), rejected, table_checks)
    if spec.get("sample"):
        kept = sample_rows(accepted, spec["sample"])
        counts["sampled_out"] = len(accepted) - len(kept)
        logger.info("%s: %d of the %d accepted rows kept by the layout's sample %s", name, len(kept), len(accepted),
                    spec["sample"])
        accepted = kept
    return accepted, rejected, counts


def ingest_events(table: str, spec: dict[str, Any], engine: dict[str, Any], checks: dict[str, Any] | None = None,
                  *, source: str = "", **inputs: Any) -> tuple[Any, pd.DataFrame, dict]:
    """``ingest_table`` for the feed log, on the engine: the raw rows are checked where they lie, the rejected
    ones come back with their reasons, and the accepted ones are an expression that the engine writes."""
    name = _named(source, table)
    [(raw_name, raw)] = _strip(inputs, RAW_PREFIX).items()
    built = ENGINES.build(engine)
    table_checks = Checks.from_config(checks, spec.get("checks"))
    starts = None
    with _empty_source_named(source):
        if isinstance(raw, Mapping):  # a folder of files, stacked; a rejected row still names its file
            raw, starts = stacked_partitions(table, raw_name, raw)
        # A source read by pandas (a CSV file, a SQL table) is handed to the engine; an engine table must be its own.
        raw = built.table(raw.assign(**{ROW: range(len(raw))})) if isinstance(raw, pd.DataFrame) else built.owns(raw)
        logger.info("ingesting %s on %r", name, built)
        result = ingest_on_engine(table, spec, raw, built, _strip(inputs, REF_PREFIX),
                                  _strip(inputs, REJECTED_REF_PREFIX), table_checks)
    if starts is not None:
        result.rejected = rows_in_files(result.rejected, starts)
    accepted_rows = result.candidate_rows - result.rejected_rows
    enforce_checks(name, result.candidate_rows, accepted_rows, result.rejected, table_checks, result.rejected_rows)
    return result.accepted, result.rejected, _counts(table, name, result.raw_rows, result.candidate_rows,
                                                     result.rejected_rows, result.rejected)


def _named(source: str, table: str) -> str:
    """A table as a person reads it: ``shop.users`` (the canonical name alone where no source is given)."""
    return f"{source}.{table}" if source else table


@contextmanager
def _empty_source_named(source: str) -> Iterator[None]:
    """An empty raw frame's stop, which names the canonical table, names its source too."""
    try:
        yield
    except EmptySourceError as empty:
        if not source:
            raise
        raise EmptySourceError(f"{source}.{empty}") from None


def _counts(table: str, name: str, raw_rows: int, candidates: int, rejected_rows: int, rejected: pd.DataFrame
            ) -> dict:
    kinds = rejected["kinds"].explode().astype("string")
    logger.info("%s: %d candidate rows, %d accepted, %d rejected", name, candidates, candidates - rejected_rows,
                rejected_rows)
    return {
        "table": table,
        "raw_rows": raw_rows,
        "candidate_rows": candidates,
        "accepted": candidates - rejected_rows,
        "rejected": rejected_rows,
        "duplicates": int(kinds.str.startswith("duplicate of an earlier row").sum()),
        "dangling_ids": int(kinds.str.contains(r": not in |was rejected", regex=True).sum()),
        "sampled_out": 0,  # accepted rows a layout's sample left out of the table
    }


def _strip(inputs: dict[str, pd.DataFrame], prefix: str) -> dict[str, pd.DataFrame]:
    return {name[len(prefix):]: frame for name, frame in inputs.items() if name.startswith(prefix)}


def build_ingestion_report(*counts: dict) -> pd.DataFrame:
    """One row per table: candidate rows = accepted + rejected, always (the table holds accepted − sampled_out)."""
    report = pd.DataFrame(list(counts))
    report["balanced"] = report["candidate_rows"] == report["accepted"] + report["rejected"]
    if not report["balanced"].all():
        raise AssertionError(f"rows were lost during ingestion:\n{report}")
    return report
