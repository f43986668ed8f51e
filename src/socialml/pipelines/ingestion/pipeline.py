"""One namespaced ingestion pipeline per configured source (see ``sources`` in parameters)."""

from __future__ import annotations

from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node, Pipeline, node

from socialml.components.core.errors import SettingsError
from socialml.components.data.canonical import INGESTION_ORDER, TABLES
from socialml.components.data.demo_platform import RAW_TABLES
from socialml.components.data.engine_ingest import ENGINE_TABLES
from socialml.components.data.ingest import check_table_layout
from socialml.pipelines.sources import family_pipeline, is_generated, source_layout

from .nodes import (
    RAW_PREFIX,
    REF_PREFIX,
    REJECTED_REF_PREFIX,
    build_ingestion_report,
    generate_platform,
    ingest_events,
    ingest_table,
)


def create_pipeline(source: str, params: dict[str, Any]) -> Pipeline:
    """Ingestion of every canonical table the source's layout fills (after the demo generator if ``generate``)."""
    layout_name = params["sources"][source]["layout"]
    if "checks" not in params["ingestion"]:
        raise SettingsError("the parameters lack ingestion.checks: an environment that sets `ingestion:` replaces "
                            "base's whole block, so give `checks` beside its `layouts` (copy them from "
                            "conf/base/parameters_ingestion.yml)")
    layout, generate = source_layout(source, params), is_generated(source, params)
    unknown = set(layout) - set(TABLES)
    if unknown:
        raise SettingsError(f"layout '{layout_name}' names tables that are not canonical: {sorted(unknown)}")
    tables = [t for t in INGESTION_ORDER if t in layout]
    for table in tables:
        check_table_layout(f"layout '{layout_name}' table '{table}'", table, layout[table])
        if layout[table].get("sample"):
            _check_sample(layout_name, table, tables)
    nodes: list[Node] = [_generate_node()] if generate else []
    for table in tables:
        nodes.append(_ingest_node(source, table, layout_name, layout[table], tables))
    nodes.append(
        node(build_ingestion_report, inputs=[f"counts_{t}" for t in tables], outputs="rpt_ingestion",
             name="build_ingestion_report")
    )
    return family_pipeline(
        "ingestion",
        nodes,
        namespace=source,
        parameters={f"params:ingestion.layouts.{layout_name}.{t}" for t in tables} | {"params:ingestion.checks"}
        | ({"params:demo_platform"} if generate else set())
        | ({"params:engine"} if set(tables) & set(ENGINE_TABLES) else set()),
        tags=["ingestion"],
    )


def _check_sample(layout_name: str, table: str, tables: list[str]) -> None:
    """A sample may thin a table that nothing else of the source refers to: rows pointing at a row left out
    would be rejected as dangling. The feed log, ingested on its engine, is not sampled."""
    referring = [other for other in tables if table in TABLES[other].references.values()]
    if referring:
        raise SettingsError(f"layout '{layout_name}' table '{table}' sample: {referring} refer to {table}, and their "
                            "rows would point at rows the sample leaves out; sample a table nothing refers to")
    if table in ENGINE_TABLES:
        raise SettingsError(f"layout '{layout_name}' table '{table}' sample: {table} is ingested on its engine, "
                            "which does not sample; filter its source instead")


def create_publish_pipeline(source: str, params: dict[str, Any]) -> Pipeline:
    """Write a generated demo platform into a source's raw datasets (e.g. the tables of a SQL database).

    Empty unless the source is laid out like the demo platform and not generated in every run.
    """
    spec = params["sources"][source]
    if spec["layout"] != "demo_platform" or spec.get("generate", False):
        return Pipeline([])
    return family_pipeline("ingestion", [_generate_node()], namespace=source, parameters={"params:demo_platform"},
                           tags=["demo"])


def _generate_node() -> Node:
    return node(generate_platform, inputs="params:demo_platform",
                outputs={name: f"raw_{name}" for name in RAW_TABLES}, name="generate_demo_platform")


def _ingest_node(source: str, table: str, layout_name: str, spec: dict[str, Any], tables: list[str]) -> Node:
    raw_names = list(spec["raw"]) if isinstance(spec["raw"], dict) else [spec["raw"]]
    if "add_ids_from" in spec:
        raw_names.append(spec["add_ids_from"]["raw"])
    inputs = {"spec": f"params:ingestion.layouts.{layout_name}.{table}", "checks": "params:ingestion.checks"}
    inputs |= {f"{RAW_PREFIX}{name}": f"raw_{name}" for name in raw_names}
    references = [ref for ref in TABLES[table].references.values() if ref in tables]
    inputs |= {f"{REF_PREFIX}{ref}": f"prm_{ref}" for ref in references}
    inputs |= {f"{REJECTED_REF_PREFIX}{ref}": f"prm_rejected_{ref}" for ref in references}
    on_engine = table in ENGINE_TABLES
    if on_engine:
        inputs["engine"] = "params:engine"
    ingest = ingest_events if on_engine else ingest_table
    func = update_wrapper(partial(ingest, table, source=source), ingest)
    return node(func, inputs=inputs, outputs=[f"prm_{table}@engine" if on_engine else f"prm_{table}",
                                              f"prm_rejected_{table}", f"counts_{table}"],
                name=f"ingest_{table}")
