"""Where the feed-event aggregates run: in-process DuckDB by default, Spark by configuration.

The aggregates are Ibis expressions (``features``), so one definition runs on either engine. An
engine is a swappable part (``{kind: duckdb}`` or ``{kind: spark, master: ...}``); its connection
is opened once per process and shared by every expression it runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

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

    def read_parquet(self, path: str, row_numbers: str | None = None) -> Any:
        """Parquet files as an Ibis table, read by the engine as a query needs them (never whole in memory).

        ``row_numbers`` names a column to add with each row's position in the file (from 0).
        """
        with self._serialised():
            if row_numbers is None:
                return self._backend().read_parquet(path)
            return self._numbered(path, row_numbers)

    def write_parquet(self, expression: Any, path: str) -> None:
        """Write a table where readers find it whole or not at all."""
        with self._serialised():
            _atomically(path, lambda fresh: self._write(expression, fresh))

    def run(self, expression: Any) -> pd.DataFrame:
        with self._serialised():
            return self._backend().to_pandas(expression)

    def _serialised(self) -> contextlib.AbstractContextManager:
        """Held while the connection is in use; a connection that takes one call at a time overrides it."""
        return contextlib.nullcontext()

    def owns(self, table: Any) -> Any:
        """``table`` itself, once checked to be read by this engine's connection (expressions cannot mix two)."""
        import ibis

        if ibis.get_backend(table) is not self._backend():
            raise ValueError(f"a table loaded by another engine than {self!r} reached a node that runs on it: the "
                             f"catalog's engine tables and the `engine` parameter both read `engine` in globals.yml; "
                             f"change it there (an environment's globals.yml), not with --params")
        return table

    def _numbered(self, path: str, column: str) -> Any:
        raise NotImplementedError

    def _write(self, expression: Any, path: Path) -> None:
        raise NotImplementedError

    def _backend(self) -> Any:
        raise NotImplementedError


class DuckDBEngine(Engine):
    """DuckDB in this process: nothing to start, columnar and multi-threaded."""

    def __init__(self, threads: int | None = None, memory_limit: str | None = None) -> None:
        self.threads, self.memory_limit = threads, memory_limit

    def __repr__(self) -> str:
        return "DuckDB (in process)"

    def _numbered(self, path: str, column: str) -> Any:
        return self._backend().read_parquet(path, file_row_number=True).rename({column: "file_row_number"})

    def _write(self, expression: Any, path: Path) -> None:
        self._backend().to_parquet(expression, path)

    def _backend(self) -> Any:
        return _duckdb(self.threads, self.memory_limit)

    def _serialised(self) -> contextlib.AbstractContextManager:
        # One DuckDB connection refuses a second call while busy (threads of the service computing one
        # user's features each): calls take turns; each is short and multi-threaded inside DuckDB.
        return _duckdb_lock(self.threads, self.memory_limit)


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

    def _numbered(self, path: str, column: str) -> Any:
        """Spark has no file row number: the rows are numbered in file order as its partitions read them."""
        backend = self._backend()
        frame = backend._session.read.parquet(path)
        numbered = frame.rdd.zipWithIndex().map(lambda pair: (*pair[0], pair[1]))
        view = f"socialml_{uuid.uuid4().hex}"
        backend._session.createDataFrame(numbered, frame.schema.add(column, "long")).createOrReplaceTempView(view)
        return backend.table(view)

    def _write(self, expression: Any, path: Path) -> None:
        """A folder of part files, written by the executors (a cluster never funnels the table through the driver)."""
        self._backend().to_parquet_dir(expression, str(path))

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
def _duckdb_lock(threads: int | None, memory_limit: str | None) -> threading.RLock:
    return threading.RLock()


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


def write_frame(frame: pd.DataFrame, path: str) -> None:
    """A pandas frame as one parquet file, written where readers find it whole or not at all."""
    _atomically(path, frame.to_parquet)


def _atomically(path: str, write: Callable[[Path], Any]) -> None:
    """``write`` into a new name beside ``path``, then renamed onto it: a kill mid-write leaves the old table."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(fresh)
        _replace(fresh, target)
    finally:
        _remove(fresh)


def _replace(fresh: Path, target: Path) -> None:
    """A file replaces a file in one rename; a folder (Spark's) is swapped with the old one moved aside first."""
    if fresh.is_file() and not target.is_dir():
        os.replace(fresh, target)
        return
    old = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
    if target.exists():
        os.replace(target, old)
    os.replace(fresh, target)
    _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()
