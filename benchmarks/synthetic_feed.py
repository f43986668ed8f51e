"""A synthetic feed log of any size, written to parquet a million events at a time (never whole in memory)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

CHUNK = 1_000_000
EVENTS_PER_USER, EVENTS_PER_POST = 100, 250  # users and posts grow with the events
SCHEMA = pa.schema([("timestamp", pa.timestamp("us")), ("user_id", pa.int64()), ("post_id", pa.int64()),
                    ("action", pa.string())])


def population(millions: int) -> tuple[int, int, int]:
    """(events, users, posts) of a log of ``millions`` million events."""
    n_events = millions * 1_000_000
    return n_events, n_events // EVENTS_PER_USER, n_events // EVENTS_PER_POST


def write_feed_log(path: Path, millions: int, rng: np.random.Generator,
                   damage: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> None:
    """Views and likes (one in ten) over 60 days, users and posts drawn uniformly; ``damage`` may change each chunk."""
    n_events, n_users, n_posts = population(millions)
    start = np.datetime64("2024-01-01T00:00:00", "us")
    with pq.ParquetWriter(path, SCHEMA) as writer:
        for offset in range(0, n_events, CHUNK):
            size = min(CHUNK, n_events - offset)
            chunk = pd.DataFrame({
                "timestamp": start + rng.integers(0, 60 * 86_400, size).astype("timedelta64[s]"),
                "user_id": rng.integers(0, n_users, size),
                "post_id": rng.integers(0, n_posts, size),
                "action": np.where(rng.random(size) < 0.1, "like", "view").astype(object),
            })
            writer.write_table(pa.Table.from_pandas(damage(chunk) if damage else chunk, schema=SCHEMA,
                                                    preserve_index=False))
