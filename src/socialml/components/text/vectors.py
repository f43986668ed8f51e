"""Embedding matrices stored as data frames: one id column, then float32 columns e000, e001, ...

A frame carries the record of the encoder that made it (``attrs["encoder"]``, kept by Parquet):
models trained on it keep the record, and ``require_encoder`` refuses vectors of another encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


def to_frame(ids: pd.Series | list, vectors: np.ndarray, id_column: str,
             encoder: dict[str, Any] | None = None) -> pd.DataFrame:
    columns = [f"e{i:03d}" for i in range(vectors.shape[1])]
    frame = pd.DataFrame(vectors.astype(np.float32), columns=columns)
    frame.insert(0, id_column, list(ids))
    if encoder is not None:
        frame.attrs["encoder"] = encoder
    return frame


def vector_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if len(c) == 4 and c[0] == "e" and c[1:].isdigit()]


def to_matrix(frame: pd.DataFrame) -> np.ndarray:
    return frame[vector_columns(frame)].to_numpy(dtype=np.float32)


def encoder_of(frame: pd.DataFrame) -> dict[str, Any] | None:
    return frame.attrs.get("encoder")


def require_encoder(trained_on: dict[str, Any] | None, frame: pd.DataFrame, model: str) -> None:
    """Refuse ``frame``'s vectors for a model trained on another encoder's (an unknown record on either side too)."""
    given = encoder_of(frame)
    if trained_on is not None and given is not None and trained_on["identity"] == given["identity"]:
        return
    raise ValueError(f"{model} was trained on embeddings from {_describe(trained_on)} but is given embeddings from "
                     f"{_describe(given)}: rerun the pipelines that train it with the same encoder "
                     "(for example `kedro run --pipelines text_embedding,sentiment,clustering,topics`)")


def _describe(record: dict[str, Any] | None) -> str:
    return "an unrecorded encoder" if record is None else repr(record["identity"])


@dataclass(frozen=True)
class Standardiser:
    """Each dimension centred on the fitted rows' mean and scaled to unit spread, over √dimensions so that a row
    keeps about unit norm. Some sentence encoders put their vectors in a narrow cone (e5's cosines 0.81 ± 0.04 on
    ru_intents_dev, USE's 0.08 ± 0.10): side by side, the wide one decides every distance and dot product
    until each dimension has its share. A dimension without spread is left at zero."""

    centre: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, vectors: np.ndarray) -> "Standardiser":
        vectors = np.asarray(vectors, dtype=np.float64)
        broken = ~np.isfinite(vectors).all(axis=1)
        if broken.any():  # one would turn every centre, and so every vector, into NaN
            raise ValueError(f"{int(broken.sum())} of {len(vectors)} vectors hold a NaN or an infinite value "
                             f"(the first at row {int(np.flatnonzero(broken)[0])}): the encoder's output is broken; "
                             "re-embed those texts")
        spread = vectors.std(axis=0)
        scale = np.where(spread > 0, spread, 1.0) * np.sqrt(vectors.shape[1])
        return cls(vectors.mean(axis=0), scale)

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        if np.shape(vectors)[1:] != self.centre.shape:
            raise ValueError(f"vectors of {np.shape(vectors)[1:]} dimensions given to a standardiser fitted on "
                             f"{self.centre.shape}")
        # in float64: a narrow dimension's spread is a few thousandths of its mean
        return ((np.asarray(vectors, dtype=np.float64) - self.centre) / self.scale).astype(np.float32)
