"""What a configured source provides, read from the environment's parameters.

Every family's ``create_pipeline(source, params)`` asks these whether it applies to a source, so
an environment needs parameters only for the families it runs.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from kedro.pipeline import Pipeline, node, pipeline
from kedro.pipeline.node import Node

from socialml.components.core.errors import SettingsError
from socialml.components.data.engine_ingest import ENGINE_TABLES


def family_pipeline(family: str, nodes: Iterable[Node] | Pipeline, *, namespace: str, **options: Any) -> Pipeline:
    """Kedro's ``pipeline(nodes, namespace=source, ...)`` with the nodes in ``<source>.<family>``: datasets are
    named ``<source>.<name>`` as usual, and kedro viz shows each source as a block with a block per family inside."""
    return pipeline(pipeline(nodes, namespace=family, prefix_datasets_with_namespace=False), namespace=namespace,
                    **options)


def source_layout(source: str, params: dict[str, Any]) -> dict[str, Any]:
    """The ingestion layout a source names (``sources.<source>.layout``)."""
    layouts = params.get("ingestion", {}).get("layouts", {})
    name = params["sources"][source]["layout"]
    if name not in layouts:
        raise SettingsError(f"source '{source}' uses layout '{name}', not in ingestion.layouts: {sorted(layouts)}")
    return layouts[name]


def source_tables(source: str, params: dict[str, Any]) -> set[str]:
    """The canonical tables a source's layout fills."""
    return set(source_layout(source, params))


def primary_table(table: str) -> str:
    """The name a node reads a canonical table by in memory: a table ingested on the engine is transcoded
    (``prm_feed_events@pandas`` beside the ``@engine`` form that ingestion writes and enrichment reads)."""
    return f"prm_{table}@pandas" if table in ENGINE_TABLES else f"prm_{table}"


def is_generated(source: str, params: dict[str, Any]) -> bool:
    """Whether the demo generator writes the source's raw tables first (its truth tables exist)."""
    return bool(params["sources"][source].get("generate", False))


def checked_models(family: str, parts: Any, params: dict[str, Any]) -> list[str]:
    """The names of ``<family>.models``, each spec checked against its kind's options (so a mistyped
    option fails when the pipelines are built, at the start of the run, not mid-run)."""
    models = params[family]["models"]
    for spec in models.values():
        parts.check(spec)
    return list(models)


def family_sources(family: str, params: dict[str, Any]) -> Any:
    """``<family>.sources``: the sources a family runs on (a list, or settings per source), empty if absent."""
    return (params.get(family) or {}).get("sources") or {}


def comparison_nodes(family: str, models: Iterable[str], intervals: Callable, compare: Callable, *,
                     interval_inputs: dict[str, str], predictions: str, scores: str, outputs: list[str],
                     intervals_output: str) -> list[Node]:
    """The two nodes a family's comparison ends with: ``intervals`` bootstraps every model's
    ``<family>.<model>.<predictions>`` (paired with the baseline's) into ``intervals_output``, then
    ``compare`` puts every model's ``<family>.<model>.<scores>`` and those intervals in one table."""
    models = list(models)
    return [
        node(intervals, {**interval_inputs, **{m: f"{family}.{m}.{predictions}" for m in models}}, intervals_output,
             name=intervals.__name__, tags=["evaluation"]),
        node(compare, {"intervals": intervals_output, **{m: f"{family}.{m}.{scores}" for m in models}}, outputs,
             name=compare.__name__, tags=["evaluation"]),
    ]
