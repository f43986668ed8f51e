"""Embedding matrices stored as data frames: one id column, then float32 columns e000, e001, ..."""

from __future__ import annotations

import numpy as np
import pandas as pd


def to_frame(ids: pd.Series | list, vectors: np.ndarray, id_column: str) -> pd.DataFrame:
    columns = [f"e{i:03d}" for i in range(vectors.shape[1])]
    frame = pd.DataFrame(vectors.astype(np.float32), columns=columns)
    frame.insert(0, id_column, list(ids))
    return frame


def vector_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if len(c) == 4 and c[0] == "e" and c[1:].isdigit()]


def to_matrix(frame: pd.DataFrame) -> np.ndarray:
    return frame[vector_columns(frame)].to_numpy(dtype=np.float32)
