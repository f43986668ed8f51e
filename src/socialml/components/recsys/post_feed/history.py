"""The feed log indexed once: every part of the post feed reads its users, posts and statistics from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from socialml.components.data import features as feature_builders
from socialml.components.data.features import FeatureSnapshots
from socialml.components.recsys.recommenders import Interactions


@dataclass
class FeedHistory:
    """Everything a history says, indexed by user row and post column.

    Users the history does not know get row ``len(users)``: every per-user array has one extra
    last row of NaN for them.
    """

    users: pd.Index
    user_rows: dict[Any, int]  # user id → row (a dict: a served request looks one up in microseconds)
    posts: pd.Index
    positives: Interactions
    seen: sp.csr_matrix
    post_values: np.ndarray
    post_names: list[str]
    user_values: np.ndarray
    user_names: list[str]
    user_topics: np.ndarray  # like rate per topic, users (+ unknown row) × topics
    post_topics: np.ndarray  # topic flags, posts × topics
    created: np.ndarray  # seconds since epoch, NaN if unknown
    recent_popularity: np.ndarray  # events per post in the last ``recent_days`` of the history
    post_vectors: np.ndarray | None  # the post's (PCA-reduced) embedding
    user_profiles: np.ndarray | None  # mean embedding of the user's liked posts (+ unknown row)
    sequences: list[np.ndarray]  # per user row, the columns of the posts they acted on positively, oldest first

    @classmethod
    def build(cls, history: pd.DataFrame, posts: pd.DataFrame, users: pd.DataFrame, positive_action: str,
              recent_days: float, post_vectors: pd.DataFrame | None = None,
              snapshots: FeatureSnapshots | None = None) -> FeedHistory:
        """With ``snapshots``, user and post features are read as of the history's last event (the
        enrichment pipeline computed them); without, they are computed here from the history."""
        post_index = pd.Index(posts["post_id"].to_numpy())
        user_index = pd.Index(np.union1d(users["user_id"].to_numpy(), history["user_id"].unique()))
        positive_events = history[history["action"] == positive_action]
        positives = Interactions.from_pairs(positive_events["user_id"], positive_events["post_id"], user_index,
                                            post_index)
        seen = Interactions.from_pairs(history["user_id"], history["post_id"], user_index, post_index).matrix
        if snapshots is None:
            user_table = feature_builders.user_features(users, history, posts)
            post_table = feature_builders.post_features(posts, history)
        else:
            user_table, post_table = snapshots.at(history["timestamp"].max())
        post_table = post_table.set_index("post_id").reindex(post_index).select_dtypes("number")
        user_table = user_table.set_index("user_id").reindex(user_index).select_dtypes("number")
        topic_flags = [c for c in post_table if c.startswith("topic_")]
        topics = [c.removeprefix("topic_") for c in topic_flags]
        user_topics = user_table.reindex(columns=[f"like_rate_{t}" for t in topics]).to_numpy(np.float32)
        end = history["timestamp"].max()
        recent = history[history["timestamp"] > end - pd.Timedelta(days=recent_days)]
        recent_popularity = recent.groupby("post_id").size().reindex(post_index, fill_value=0).to_numpy(np.float32)
        created = seconds(pd.to_datetime(posts.set_index("post_id")["created_at"].reindex(post_index)).to_numpy())
        vectors = profiles = None
        if post_vectors is not None:
            # First column: post ids; the rest: the (PCA-reduced) embedding.
            vectors = post_vectors.set_index(post_vectors.columns[0]).reindex(post_index).to_numpy(np.float32)
            profiles = _with_unknown_row(_mean_rows(positives.matrix, np.nan_to_num(vectors)))
        return cls(
            users=user_index, user_rows=dict(zip(user_index.tolist(), range(len(user_index)))), posts=post_index,
            positives=positives, seen=seen,
            post_values=post_table.to_numpy(np.float32), post_names=list(post_table.columns),
            user_values=_with_unknown_row(user_table.to_numpy(np.float32)), user_names=list(user_table.columns),
            user_topics=_with_unknown_row(user_topics), post_topics=post_table[topic_flags].to_numpy(np.float32),
            created=created, recent_popularity=recent_popularity, post_vectors=vectors, user_profiles=profiles,
            sequences=_sequences(positive_events, user_index, post_index),
        )

    def rows(self, user_ids: np.ndarray) -> np.ndarray:
        """The row of each user id (``len(users)`` for users the history does not know)."""
        unknown = len(self.users)
        return np.fromiter((self.user_rows.get(u, unknown) for u in np.asarray(user_ids).tolist()), dtype=np.int64,
                           count=len(user_ids))

    def knows(self, user_id: Any) -> bool:
        """Whether the user has at least one event in the history (else their feed is a cold start)."""
        row = self.user_rows.get(user_id)
        return row is not None and self.seen.indptr[row + 1] > self.seen.indptr[row]

    def topic_match(self, rows: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
        """Mean like rate of each user over a post's topics (posts without topics: 0): users × all posts,
        or one value per (row, col) pair when ``cols`` is given."""
        rates = np.nan_to_num(self.user_topics[rows])
        flags = self.post_topics if cols is None else self.post_topics[cols]
        n_topics = flags.sum(axis=1)
        n_topics[n_topics == 0] = 1
        if cols is None:
            return (rates @ flags.T) / n_topics
        return (rates * flags).sum(axis=1) / n_topics


def _sequences(events: pd.DataFrame, users: pd.Index, posts: pd.Index) -> list[np.ndarray]:
    """Each user's post columns in time order (a stable sort: events at one time keep the log's order)."""
    ordered = events.sort_values("timestamp", kind="stable")
    rows, cols = users.get_indexer(ordered["user_id"]), posts.get_indexer(ordered["post_id"])
    known = (rows >= 0) & (cols >= 0)
    rows, cols = rows[known], cols[known]
    grouping = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[grouping], np.arange(len(users) + 1))
    return [cols[grouping[bounds[i]:bounds[i + 1]]] for i in range(len(users))]


def seconds(times: np.ndarray) -> np.ndarray:
    """Seconds since the epoch of datetime64 values or timestamps, as floats (NaN for missing times). Each
    value keeps its own unit until seconds: a time past 2262 (pandas' nanosecond range) would wrap around
    in nanoseconds to one before 1900, before every post."""
    values = np.asarray(times, dtype="datetime64").astype("datetime64[s]")
    out = values.astype(np.int64).astype(np.float64)
    out[np.isnat(values)] = np.nan
    return out


def row_entries(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position in ``rows``, column) of every stored entry in those rows; rows past the matrix have none."""
    inside = np.flatnonzero(rows < matrix.shape[0])
    starts, ends = matrix.indptr[rows[inside]], matrix.indptr[rows[inside] + 1]
    counts = ends - starts
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(inside, counts), matrix.indices[np.repeat(starts, counts) + offsets]


def _with_unknown_row(values: np.ndarray) -> np.ndarray:
    return np.vstack([values, np.full((1, values.shape[1]), np.nan, dtype=np.float32)])


def _mean_rows(matrix: sp.csr_matrix, vectors: np.ndarray) -> np.ndarray:
    counts = np.asarray(matrix.sum(axis=1)).ravel()
    counts[counts == 0] = 1
    return np.asarray(matrix @ vectors) / counts[:, None]
