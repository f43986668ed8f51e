"""Ingestion nodes: generate the demo platform, adapt and validate each canonical table, report."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from socialml.components.demo_platform import DemoPlatformConfig, generate_demo_platform
from socialml.components.ingest import adapt, validate

RAW_PREFIX, REF_PREFIX = "raw_", "ref_"
logger = logging.getLogger(__name__)


def generate_platform(config: dict[str, Any]) -> dict[str, pd.DataFrame]:
    tables = generate_demo_platform(DemoPlatformConfig(**config))
    logger.info("demo platform: %s", ", ".join(f"{name} {len(frame):,}" for name, frame in tables.items()))
    return tables


def ingest_table(table: str, spec: dict[str, Any], **inputs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Adapt the raw frames (``raw_*`` inputs) into ``table``, checking keys against ``ref_*`` tables."""
    raw = {name[len(RAW_PREFIX):]: frame for name, frame in inputs.items() if name.startswith(RAW_PREFIX)}
    references = {name[len(REF_PREFIX):]: frame for name, frame in inputs.items() if name.startswith(REF_PREFIX)}
    adapted = adapt(table, spec, raw)
    accepted, rejected = validate(table, adapted, references, spec.get("leak_guard"))
    counts = {
        "table": table,
        "raw_rows": sum(len(frame) for name, frame in raw.items()),
        "candidate_rows": len(adapted),
        "accepted": len(accepted),
        "rejected": len(rejected),
        "duplicates": int(rejected["reason"].str.contains("duplicate of an earlier row").sum()),
        "dangling_ids": int(rejected["reason"].str.contains(" is not in ").sum()),
    }
    logger.info("%s: %d candidate rows, %d accepted, %d rejected", table, len(adapted), len(accepted), len(rejected))
    return accepted, rejected, counts


def build_ingestion_report(*counts: dict) -> pd.DataFrame:
    """One row per table: candidate rows = accepted + rejected, always."""
    report = pd.DataFrame(list(counts))
    report["balanced"] = report["candidate_rows"] == report["accepted"] + report["rejected"]
    if not report["balanced"].all():
        raise AssertionError(f"rows were lost during ingestion:\n{report}")
    return report
