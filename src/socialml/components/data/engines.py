"""Where the feed-event aggregates run: in-process DuckDB by default, Spark by configuration.

The aggregates are Ibis expressions (``features``), so one definition runs on either engine. An
engine is a swappable part (``{kind: duckdb}`` or ``{kind: spark, master: ...}``); its connection
is opened once per process and shared by every expression it runs.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pandas as pd

from socialml.components.core.parts import Parts

# Spark reads naive timestamps in its session time zone: UTC keeps hours and weekdays as DuckDB sees them.
SPARK_DEFAULTS = {"spark.sql.session.timeZone": "UTC", "spark.ui.enabled": "false",
                  "spark.sql.execution.arrow.pyspark.enabled": "true", "spark.sql.shuffle.partitions": "8",
                  "spark.ui.showConsoleProgress": "false"}


class DuckDBEngine:
    """DuckDB in this process: nothing to start, columnar and multi-threaded."""

    def __init__(self, threads: int | None = None, memory_limit: str | None = None) -> None:
        self.threads, self.memory_limit = threads, memory_limit

    def __repr__(self) -> str:
        return "DuckDB (in process)"

    def table(self, frame: pd.DataFrame) -> Any:
        import ibis

        return ibis.memtable(frame)

    def run(self, expression: Any) -> pd.DataFrame:
        return _duckdb(self.threads, self.memory_limit).to_pandas(expression)


class SparkEngine:
    """PySpark: ``master`` is ``local[N]`` on this machine or a cluster's URL (``spark://host:7077``,
    ``yarn``); ``conf`` adds Spark settings (executor memory, ...)."""

    def __init__(self, master: str = "local[2]", conf: dict[str, str] | None = None) -> None:
        self.master, self.conf = master, dict(conf or {})

    def __repr__(self) -> str:
        return f"Spark ({self.master})"

    def table(self, frame: pd.DataFrame) -> Any:
        """The frame as an Ibis table; pandas' Arrow-backed strings as Python objects, which PySpark's Arrow
        transfer takes (it refuses their chunked arrays and falls back to a copy row by row)."""
        import ibis

        strings = [column for column, dtype in frame.dtypes.items() if pd.api.types.is_string_dtype(dtype)]
        return ibis.memtable(frame.astype({column: object for column in strings}))

    def run(self, expression: Any) -> pd.DataFrame:
        return _spark(self.master, tuple(sorted(self.conf.items()))).to_pandas(expression)


ENGINES: Parts[DuckDBEngine | SparkEngine] = Parts("engine", {"duckdb": DuckDBEngine, "spark": SparkEngine})
DEFAULT_ENGINE = {"kind": "duckdb"}


@lru_cache(maxsize=None)
def _duckdb(threads: int | None, memory_limit: str | None) -> Any:
    import ibis

    settings = {key: value for key, value in (("threads", threads), ("memory_limit", memory_limit)) if value}
    return ibis.duckdb.connect(**settings)


@lru_cache(maxsize=None)
def _spark(master: str, conf: tuple[tuple[str, str], ...]) -> Any:
    import ibis
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName("socialml")
    for key, value in {**SPARK_DEFAULTS, **dict(conf)}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return ibis.pyspark.connect(session)
