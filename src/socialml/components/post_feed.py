"""Seed 004's post feed: candidate generators, then a CatBoost ranker over request × post features.

A request is a user and a moment (``request_time``). For each request, every configured
generator scores all posts available then (created before the request, not excluded as
already liked or seen), the union of their top ``candidates`` posts is described by
features (generator scores and ranks, post text and popularity statistics, user activity and
per-topic like rates, user × post topic match, time of day, post age and, for the text variant,
the PCA components of the post's embedding and its cosine to the user's liked posts), and a
CatBoost ranker orders them. Without a ranker the first generator's order is the answer, which
is how the popularity baseline runs through the same code.

The ranker learns on the training history split again by the same protocol (so its labels lie
after its features in time), then generators and features are refitted on the whole history.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from socialml.components import features as feature_builders
from socialml.components.recommenders import RECOMMENDERS, Interactions, Recommender, build_recommender

logger = logging.getLogger(__name__)
SECONDS_PER_DAY = 86_400
FEED_GENERATORS = ("recent_popularity", "newest", "topic_match")  # computed here, not Recommender kinds


@dataclass(frozen=True)
class FeedSplit:
    history: pd.DataFrame  # feed events a model may learn from
    requests: pd.DataFrame  # request_id, user_id, request_time
    targets: pd.DataFrame  # request_id, post_id: the relevant posts of each request


def split_feed(events: pd.DataFrame, protocol: dict[str, Any], positive_action: str) -> FeedSplit:
    """Requests and their relevant posts after a cut, and the history before it.

    ``time_split``: the cut is ``protocol.cut`` or the (1 - test_share) quantile of event times;
    every user who has a positive event after it makes one request at their first event after
    it, and every post they act on positively after it is relevant.
    ``leave_last_out``: each user's last positive event (ties at one timestamp: the last in the
    events' order) is the target, requested at its own time; the history loses that pair only.
    """
    kind = protocol["kind"]
    events = events.reset_index(drop=True)
    is_positive = events["action"] == positive_action
    if kind == "time_split":
        cut = pd.Timestamp(protocol["cut"]) if protocol.get("cut") else events["timestamp"].quantile(
            1 - protocol["test_share"])
        after = events["timestamp"] >= cut
        future_positive = events[after & is_positive]
        users = np.sort(future_positive["user_id"].unique())
        request_time = events[after].groupby("user_id")["timestamp"].min().reindex(users).to_numpy()
        requests = pd.DataFrame({"request_id": np.arange(len(users)), "user_id": users, "request_time": request_time})
        targets = (future_positive[["user_id", "post_id"]].drop_duplicates()
                   .merge(requests[["request_id", "user_id"]], on="user_id")[["request_id", "post_id"]])
        history = events[~after]
    elif kind == "leave_last_out":
        positives = events[is_positive].sort_values("timestamp", kind="stable")
        last = positives.groupby("user_id", sort=True).tail(1).sort_values("user_id", kind="stable")
        requests = pd.DataFrame({"request_id": np.arange(len(last)), "user_id": last["user_id"].to_numpy(),
                                 "request_time": last["timestamp"].to_numpy()})
        targets = pd.DataFrame({"request_id": requests["request_id"], "post_id": last["post_id"].to_numpy()})
        held_out = pd.MultiIndex.from_frame(last[["user_id", "post_id"]])
        history = events[~pd.MultiIndex.from_frame(events[["user_id", "post_id"]]).isin(held_out)]
    else:
        raise ValueError(f"unknown feed protocol '{kind}': use time_split or leave_last_out")
    return FeedSplit(history.reset_index(drop=True), requests, targets.reset_index(drop=True))


@dataclass(frozen=True)
class RankedPosts:
    """Top-k posts of a batch of requests as flat arrays, ordered by request then rank."""

    FIELDS = ("request_pos", "rank", "post_id", "score")
    request_pos: np.ndarray  # position of the request in the batch
    rank: np.ndarray  # 1..k
    post_id: np.ndarray
    score: np.ndarray


@dataclass
class _FeedState:
    """Everything the history says, indexed by user row and post column."""

    users: pd.Index
    user_rows: dict[Any, int]  # user id → row (a dict: a served request looks one up in microseconds)
    posts: pd.Index
    positives: Interactions
    seen: sp.csr_matrix
    generators: dict[str, Recommender]
    post_values: np.ndarray
    post_names: list[str]
    user_values: np.ndarray  # one extra last row of NaN for users the history does not know
    user_names: list[str]
    user_topics: np.ndarray  # like rate per topic, users (+ unknown row) × topics
    post_topics: np.ndarray  # topic flags, posts × topics
    created: np.ndarray  # seconds since epoch, NaN if unknown
    recent_popularity: np.ndarray
    # Per user-independent generator: its score of every post, and the posts by it (best first,
    # ties to the lower column), so a request ranks the posts available to it without sorting.
    shared_scores: dict[str, np.ndarray]
    shared_orders: dict[str, np.ndarray]
    post_vectors: np.ndarray | None
    user_profiles: np.ndarray | None


@dataclass
class PostFeedModel:
    """Top-k posts per request; ``fit(history, posts, users, post_vectors)`` then ``recommend(requests, k)``."""

    generators: dict[str, dict[str, Any]]
    ranker: dict[str, Any] | None = None
    candidates: int = 50
    positive_action: str = "like"
    exclude: str = "positives"  # positives | seen | none: what a user is never shown again
    recent_days: float = 3.0
    use_text: bool = False  # cosine of the post's embedding to the user's liked posts
    text_components: bool = False  # also the embedding's components themselves (seed 004's stage 3)
    max_train_requests: int = 5_000  # per inner split
    inner_splits: int = 1  # nested splits of the history the ranker learns from
    protocol: dict[str, Any] = field(default_factory=lambda: {"kind": "time_split", "test_share": 0.2})
    seed: int = 0
    threads: int = 1
    state_: _FeedState | None = None
    ranker_: Any = None
    feature_names_: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.exclude not in ("positives", "seen", "none"):
            raise ValueError(f"exclude must be positives, seen or none, got '{self.exclude}'")
        if not self.generators:
            raise ValueError("a post feed needs at least one candidate generator")
        for name, spec in self.generators.items():
            if spec.get("kind") in FEED_GENERATORS:
                if set(spec) != {"kind"}:
                    raise ValueError(f"generator '{name}' ({spec['kind']}) takes no options, got {sorted(set(spec) - {'kind'})}")
            else:
                RECOMMENDERS.check(spec)

    def fit(self, history: pd.DataFrame, posts: pd.DataFrame, users: pd.DataFrame,
            post_vectors: pd.DataFrame | None = None) -> PostFeedModel:
        if self.use_text and post_vectors is None:
            raise ValueError("use_text is set but no post embeddings were given")
        vectors = post_vectors if self.use_text else None
        if self.ranker is not None:
            self._fit_ranker(history, posts, users, vectors)
        self.state_ = self._build_state(history, posts, users, vectors)
        return self

    def recommend(self, requests: pd.DataFrame, k: int = 5, batch_size: int = 512) -> pd.DataFrame:
        """One row per (request, rank): request_id, user_id, rank (1..k), post_id, score."""
        missing = {"request_id", "user_id", "request_time"} - set(requests.columns)
        if missing:
            raise KeyError(f"requests lack columns {sorted(missing)}")
        user_ids = requests["user_id"].to_numpy()
        times = pd.to_datetime(requests["request_time"]).to_numpy()
        parts = []
        for start in tqdm(range(0, len(requests), batch_size), desc="post feed", disable=None, leave=False):
            ranked = self.rank_posts(user_ids[start : start + batch_size], times[start : start + batch_size], k)
            parts.append(replace(ranked, request_pos=ranked.request_pos + start))
        if not parts:
            return pd.DataFrame(columns=["request_id", "user_id", "rank", "post_id", "score"])
        pos, rank, post_id, score = (np.concatenate([getattr(p, f) for p in parts]) for f in RankedPosts.FIELDS)
        return pd.DataFrame({"request_id": requests["request_id"].to_numpy()[pos], "user_id": user_ids[pos],
                             "rank": rank, "post_id": post_id, "score": score.astype(np.float64)})

    def rank_posts(self, user_ids: np.ndarray, times: np.ndarray, k: int = 5) -> RankedPosts:
        """The numpy core of ``recommend``, which the service calls per request (no pandas on this path).

        ``times`` are datetime64 values, one per user id.
        """
        if self.state_ is None:
            raise RuntimeError("fit the post feed model before recommending")
        rows = _user_rows(self.state_, user_ids)
        times = _seconds(np.asarray(times, dtype="datetime64[ns]"))
        request_pos, cols, x, _ = self._candidate_features(self.state_, rows, times)
        return self._top(request_pos, cols, self._score(x), k)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """MLflow pyfunc face: user_id and request_time per row in, five posts per row out."""
        return self.recommend(frame.assign(request_id=np.arange(len(frame))), k=5)

    # -- state ---------------------------------------------------------------------------
    def _build_state(self, history: pd.DataFrame, posts: pd.DataFrame, users: pd.DataFrame,
                     post_vectors: pd.DataFrame | None) -> _FeedState:
        post_index = pd.Index(posts["post_id"].to_numpy())
        user_index = pd.Index(np.union1d(users["user_id"].to_numpy(), history["user_id"].unique()))
        positive_events = history[history["action"] == self.positive_action]
        positives = Interactions.from_pairs(positive_events["user_id"], positive_events["post_id"], user_index,
                                            post_index)
        seen = Interactions.from_pairs(history["user_id"], history["post_id"], user_index, post_index).matrix
        generators = {}
        for name, spec in self.generators.items():
            if spec["kind"] not in FEED_GENERATORS:
                generators[name] = build_recommender(spec).fit(positives)
        post_table = feature_builders.post_features(posts, history).set_index("post_id").reindex(post_index)
        post_table = post_table.select_dtypes("number")
        user_table = feature_builders.user_features(users, history, posts).set_index("user_id").reindex(user_index)
        user_table = user_table.select_dtypes("number")
        topic_flags = [c for c in post_table if c.startswith("topic_")]
        topics = [c.removeprefix("topic_") for c in topic_flags]
        user_topics = user_table.reindex(columns=[f"like_rate_{t}" for t in topics]).to_numpy(np.float32)
        end = history["timestamp"].max()
        recent = history[history["timestamp"] > end - pd.Timedelta(days=self.recent_days)]
        recent_popularity = recent.groupby("post_id").size().reindex(post_index, fill_value=0).to_numpy(np.float32)
        created = _seconds(pd.to_datetime(posts.set_index("post_id")["created_at"].reindex(post_index)).to_numpy())
        shared_scores = {}
        for name, spec in self.generators.items():
            if spec["kind"] == "recent_popularity":
                shared_scores[name] = recent_popularity
            elif spec["kind"] == "newest":
                shared_scores[name] = np.nan_to_num(created, nan=0.0).astype(np.float32)
        vectors = profiles = None
        if post_vectors is not None:
            # First column: post ids; the rest: the (PCA-reduced) embedding.
            vectors = post_vectors.set_index(post_vectors.columns[0]).reindex(post_index).to_numpy(np.float32)
            profiles = _mean_rows(positives.matrix, np.nan_to_num(vectors))
        return _FeedState(
            users=user_index, user_rows=dict(zip(user_index.tolist(), range(len(user_index)))), posts=post_index,
            positives=positives, seen=seen, generators=generators,
            post_values=post_table.to_numpy(np.float32), post_names=list(post_table.columns),
            user_values=_with_unknown_row(user_table.to_numpy(np.float32)), user_names=list(user_table.columns),
            user_topics=_with_unknown_row(user_topics), post_topics=post_table[topic_flags].to_numpy(np.float32),
            created=created, recent_popularity=recent_popularity, shared_scores=shared_scores,
            shared_orders={name: np.argsort(-score, kind="stable") for name, score in shared_scores.items()},
            post_vectors=vectors,
            user_profiles=None if profiles is None else _with_unknown_row(profiles),
        )

    # -- candidates and features --------------------------------------------------------
    def _generator_scores(self, state: _FeedState, name: str, rows: np.ndarray) -> np.ndarray:
        n = len(rows)
        if name in state.shared_scores:
            return np.broadcast_to(state.shared_scores[name], (n, len(state.posts)))
        if self.generators[name]["kind"] == "topic_match":
            return _topic_match(state, rows)
        known = rows < len(state.users)
        scores = np.zeros((n, len(state.posts)), dtype=np.float32)
        if known.any():
            scores[known] = state.generators[name].score(rows[known])
        return scores

    def _unavailable(self, state: _FeedState, rows: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Posts a request may not get: created after it, or excluded as already liked/seen."""
        blocked = state.created[None, :] > times[:, None]
        if self.exclude != "none":
            matrix = state.positives.matrix if self.exclude == "positives" else state.seen
            request_pos, cols = _row_entries(matrix, rows)
            blocked[request_pos, cols] = True
        return blocked

    def _candidate_features(self, state: _FeedState, rows: np.ndarray, times: np.ndarray):
        """Features of each request's candidates; ``rows`` from ``_user_rows``, ``times`` in epoch seconds."""
        blocked = self._unavailable(state, rows, times)
        candidate = np.zeros(blocked.shape, dtype=bool)
        scores, ranks = {}, {}
        for name in self.generators:
            score = np.where(blocked, -np.inf, self._generator_scores(state, name, rows))
            if name in state.shared_orders:
                # Rank among the available posts = how many available ones come before, in the shared order.
                order = state.shared_orders[name]
                available = ~blocked[:, order]
                rank_in_order = np.cumsum(available, axis=1)
                rank = np.empty(blocked.shape, dtype=np.int64)
                rank[:, order] = rank_in_order
                candidate[:, order] |= available & (rank_in_order <= self.candidates)
            else:
                order = np.argsort(-score, axis=1, kind="stable")
                rank = np.empty_like(order)
                rank[np.arange(len(rows))[:, None], order] = np.arange(1, order.shape[1] + 1)
                candidate[np.arange(len(rows))[:, None], order[:, : self.candidates]] = True
            scores[name], ranks[name] = score, rank
        candidate &= ~blocked
        request_pos, cols = np.nonzero(candidate)
        user_rows = rows[request_pos]
        hours = (times[request_pos] % SECONDS_PER_DAY) / 3600
        weekday = ((times[request_pos] // SECONDS_PER_DAY + 3) % 7)  # 1970-01-01 was a Thursday
        topic_match = _pair_topic_match(state, user_rows, cols)
        blocks = [np.stack([scores[g][request_pos, cols] for g in self.generators], axis=1),
                  np.stack([ranks[g][request_pos, cols] for g in self.generators], axis=1).astype(np.float32),
                  state.post_values[cols], state.user_values[user_rows],
                  np.stack([topic_match, hours, weekday, (times[request_pos] - state.created[cols]) / 3600,
                            state.recent_popularity[cols],
                            # views × the user's like rate for the post's topics: expected likes, spelled
                            # out because trees approximate products poorly
                            state.recent_popularity[cols] * topic_match], axis=1)]
        names = ([f"score_{g}" for g in self.generators] + [f"rank_{g}" for g in self.generators]
                 + [f"post_{c}" for c in state.post_names] + [f"user_{c}" for c in state.user_names]
                 + ["user_post_topic_match", "request_hour", "request_weekday", "post_age_hours",
                    "post_recent_views", "expected_recent_likes"])
        if state.post_vectors is not None:
            vectors = state.post_vectors[cols]
            profiles = state.user_profiles[user_rows]
            cosine = (np.nan_to_num(vectors) * profiles).sum(axis=1) / (
                np.linalg.norm(np.nan_to_num(vectors), axis=1) * np.linalg.norm(profiles, axis=1) + 1e-9)
            blocks.append(cosine[:, None])
            names.append("user_post_text_cosine")
            if self.text_components:
                blocks.append(vectors)
                names += [f"post_text_pc{i:02d}" for i in range(vectors.shape[1])]
        x = np.hstack(blocks).astype(np.float32)
        x[np.isinf(x)] = np.nan
        return request_pos, cols, x, names

    # -- ranker -------------------------------------------------------------------------
    def _fit_ranker(self, history: pd.DataFrame, posts: pd.DataFrame, users: pd.DataFrame,
                    vectors: pd.DataFrame | None) -> None:
        """Learn on ``inner_splits`` nested splits of the history, each peeled off the previous one."""
        from catboost import CatBoost, Pool

        xs, labels, groups, offset = [], [], [], 0
        for split_number in range(self.inner_splits):
            inner = split_feed(history, self.protocol, self.positive_action)
            requests = inner.requests
            if len(requests) > self.max_train_requests:
                requests = requests.sample(self.max_train_requests, random_state=self.seed)
            state = self._build_state(inner.history, posts, users, vectors)
            request_pos, cols, x, names = self._candidate_features(
                state, _user_rows(state, requests["user_id"].to_numpy()),
                _seconds(pd.to_datetime(requests["request_time"]).to_numpy()))
            relevant = pd.MultiIndex.from_frame(inner.targets[["request_id", "post_id"]])
            pairs = pd.MultiIndex.from_arrays([requests["request_id"].to_numpy()[request_pos], state.posts[cols]])
            label = pairs.isin(relevant).astype(np.float32)
            useful = pd.Series(label).groupby(request_pos).transform("max").to_numpy() > 0
            logger.info("post feed ranker, inner split %d: %d requests, %d with a relevant candidate, %d rows",
                        split_number + 1, len(requests), len(np.unique(request_pos[useful])), int(useful.sum()))
            xs.append(x[useful])
            labels.append(label[useful])
            groups.append(request_pos[useful] + offset)  # request ids unique across the splits
            offset += len(requests)
            history = inner.history
        if not sum(len(label) for label in labels):
            raise ValueError("no training request has a relevant post among its candidates: "
                             "raise `candidates` or check the protocol's split")
        options = {"iterations": 300, "depth": 6, "learning_rate": 0.08, "loss_function": "Logloss",
                   **self.ranker, "random_seed": self.seed, "thread_count": self.threads, "verbose": False,
                   "allow_writing_files": False}
        self.ranker_ = CatBoost(options)
        self.ranker_.fit(Pool(np.vstack(xs), np.concatenate(labels), group_id=np.concatenate(groups),
                              feature_names=names))
        self.feature_names_ = names

    def _score(self, x: np.ndarray) -> np.ndarray:
        if self.ranker_ is None:
            return -x[:, len(self.generators)]  # the first generator's rank
        return self.ranker_.predict(x, thread_count=self.threads)

    def feature_importance(self) -> pd.DataFrame:
        if self.ranker_ is None:
            return pd.DataFrame(columns=["feature", "importance"])
        return (pd.DataFrame({"feature": self.feature_names_, "importance": self.ranker_.get_feature_importance(type="PredictionValuesChange")})
                .sort_values("importance", ascending=False, ignore_index=True))

    def _top(self, request_pos: np.ndarray, cols: np.ndarray, score: np.ndarray, k: int) -> RankedPosts:
        # Per request: best score first, ties to the lower post column.
        order = np.lexsort((cols, -score, request_pos))
        pos, col, best = request_pos[order], cols[order], score[order]
        rank = np.arange(len(pos)) - np.searchsorted(pos, pos, side="left") + 1
        keep = rank <= k
        return RankedPosts(pos[keep], rank[keep], self.state_.posts.to_numpy()[col[keep]], best[keep])


def _seconds(times: np.ndarray) -> np.ndarray:
    """Seconds since the epoch of datetime64 values, as floats (NaN for missing times)."""
    values = times.astype("datetime64[s]")
    out = values.astype(np.int64).astype(np.float64)
    out[np.isnat(values)] = np.nan
    return out


def _user_rows(state: _FeedState, user_ids: np.ndarray) -> np.ndarray:
    unknown = len(state.users)  # users the history does not know get the last (all-NaN) row
    return np.fromiter((state.user_rows.get(u, unknown) for u in np.asarray(user_ids).tolist()), dtype=np.int64,
                       count=len(user_ids))


def _row_entries(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _topic_match(state: _FeedState, rows: np.ndarray) -> np.ndarray:
    """Mean like rate of the user over each post's topics (posts without topics: 0)."""
    rates = np.nan_to_num(state.user_topics[rows])
    n_topics = state.post_topics.sum(axis=1)
    n_topics[n_topics == 0] = 1
    return (rates @ state.post_topics.T) / n_topics


def _pair_topic_match(state: _FeedState, user_rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    flags = state.post_topics[cols]
    n_topics = flags.sum(axis=1)
    n_topics[n_topics == 0] = 1
    return (np.nan_to_num(state.user_topics[user_rows]) * flags).sum(axis=1) / n_topics

