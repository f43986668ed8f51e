"""A parquet table that the configured engine reads and writes, so the rows never pass through pandas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset

from socialml.components.data.engines import ENGINES, write_frame


class EngineParquetDataset(AbstractDataset[Any, Any]):
    """Loads an Ibis table on the engine (``{kind: duckdb}`` or ``{kind: spark, ...}``, the ``engine`` global);
    saves an Ibis expression (run by the engine) or a pandas frame (one file), atomically.

    ``row_numbers`` adds a column with each row's position in the file, which ingestion quotes when it rejects
    a row. Beside it, a ``pandas.ParquetDataset`` of the same file (Kedro transcoding: ``name@pandas``) gives
    the table to nodes that need it in memory.
    """

    def __init__(self, filepath: str, engine: dict[str, Any], row_numbers: str | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self._filepath = str(filepath)
        self._engine_config = dict(engine)
        self._engine = ENGINES.build(engine)
        self._row_numbers = row_numbers
        self.metadata = metadata

    def load(self) -> Any:
        return self._engine.read_parquet(self._filepath, self._row_numbers)

    def save(self, data: Any) -> None:
        if isinstance(data, pd.DataFrame):  # already in memory: one file in the frame's row order, on any engine
            write_frame(data, self._filepath)
        else:
            self._engine.write_parquet(data, self._filepath)

    def _exists(self) -> bool:
        return Path(self._filepath).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "engine": self._engine_config, "row_numbers": self._row_numbers}
