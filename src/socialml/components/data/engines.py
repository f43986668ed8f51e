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


class Engine:
    """Runs Ibis expressions on one backend: tables come in as pandas frames or parquet files, results
    go out as pandas frames."""

    def table(self, frame: pd.DataFrame) -> Any:
        import ibis

        return ibis.memtable(frame)

    def read_parquet(self, path: str) -> Any:
        """Parquet files as an Ibis table, read by the engine as a query needs them (never whole in memory)."""
        return self._backend().read_parquet(path)

    def run(self, expression: Any) -> pd.DataFrame:
        return self._backend().to_pandas(expression)

    def _backend(self) -> Any:
        raise NotImplementedError


class DuckDBEngine(Engine):
    """DuckDB in this process: nothing to start, columnar and multi-threaded."""

    def __init__(self, threads: int | None = None, memory_limit: str | None = None) -> None:
        self.threads, self.memory_limit = threads, memory_limit

    def __repr__(self) -> str:
        return "DuckDB (in process)"

    def _backend(self) -> Any:
        return _duckdb(self.threads, self.memory_limit)


class SparkEngine(Engine):
    """PySpark: ``master`` is ``local[N]`` on this machine or a cluster's URL (``spark://host:7077``,
    ``yarn``); ``conf`` adds Spark settings (executor memory, ...)."""

    def __init__(self, master: str = "local[2]", conf: dict[str, str] | None = None) -> None:
        self.master, self.conf = master, dict(conf or {})

    def __repr__(self) -> str:
        return f"Spark ({self.master})"

    def table(self, frame: pd.DataFrame) -> Any:
        """Pandas' Arrow-backed strings go to Spark as Python objects: PySpark's Arrow transfer refuses their
        chunked arrays and falls back to a copy row by row."""
        strings = [column for column, dtype in frame.dtypes.items() if pd.api.types.is_string_dtype(dtype)]
        return super().table(frame.astype({column: object for column in strings}))

    def _backend(self) -> Any:
        return _spark(self.master, tuple(sorted(self.conf.items())))


ENGINES: Parts[Engine] = Parts("engine", {"duckdb": DuckDBEngine, "spark": SparkEngine})
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
