"""``PostFeedModel``: candidate generators, then a ranker over request × post features.

A request is a user and a moment (``request_time``). For each request, every generator scores the
posts available then (created before the request, not excluded as already liked or seen), the union
of their top ``candidates`` posts is described by ``FeedFeatures``, and the ranker orders them.
Without a ranker the first generator's order is the answer.

The ranker learns on the training history split again by the same protocol (so its labels lie
after its features in time), then the history and the generators are refitted on the whole of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from socialml.components.evaluation.protocols import split_feed
from socialml.components.recsys.post_feed.features import FeedFeatures
from socialml.components.recsys.post_feed.generators import GENERATORS, CandidateGenerator, generate_candidates
from socialml.components.recsys.post_feed.history import FeedHistory, seconds
from socialml.components.recsys.post_feed.ranker import RANKERS, FirstGeneratorOrder, Ranker

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RankedPosts:
    """Top-k posts of a batch of requests as flat arrays, ordered by request then rank."""

    FIELDS = ("request_pos", "rank", "post_id", "score")
    request_pos: np.ndarray  # position of the request in the batch
    rank: np.ndarray  # 1..k
    post_id: np.ndarray
    score: np.ndarray


@dataclass
class PostFeedModel:
    """Top-k posts per request; ``fit(history, posts, users, post_vectors)`` then ``recommend(requests, k)``.

    ``generators`` name their parts (``{als: {kind: als, factors: 32}}``, kinds from ``GENERATORS``);
    ``ranker`` is a ``RANKERS`` part (``{kind: catboost, iterations: 200}``) or None.
    """

    generators: dict[str, dict[str, Any]]
    ranker: dict[str, Any] | None = None
    candidates: int = 50  # per generator
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
    history_: FeedHistory | None = None
    generators_: dict[str, CandidateGenerator] = field(default_factory=dict)
    ranker_: Ranker | FirstGeneratorOrder | None = None

    def __post_init__(self) -> None:
        if self.exclude not in ("positives", "seen", "none"):
            raise ValueError(f"exclude must be positives, seen or none, got '{self.exclude}'")
        if not self.generators:
            raise ValueError("a post feed needs at least one candidate generator")
        for spec in self.generators.values():
            GENERATORS.check(spec)
        if self.ranker is not None:
            RANKERS.check(self.ranker)

    def fit(self, history: pd.DataFrame, posts: pd.DataFrame, users: pd.DataFrame,
            post_vectors: pd.DataFrame | None = None) -> PostFeedModel:
        if self.use_text and post_vectors is None:
            raise ValueError("use_text is set but no post embeddings were given")
        vectors = post_vectors if self.use_text else None
        self.ranker_ = (FirstGeneratorOrder(rank_column=len(self.generators)) if self.ranker is None
                        else self._fit_ranker(history, posts, users, vectors))
        self.history_, self.generators_ = self._fit_parts(history, posts, users, vectors)
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
        if self.history_ is None:
            raise RuntimeError("fit the post feed model before recommending")
        rows = self.history_.rows(user_ids)
        candidates, x, _ = self._features(self.history_, self.generators_, rows,
                                          seconds(np.asarray(times, dtype="datetime64[ns]")))
        return self._top(candidates.request_pos, candidates.cols, self.ranker_.score(x), k)

    def example_frame(self) -> pd.DataFrame:
        """An input ``predict_frame`` takes: two known users at the newest post's time (MLflow's input example)."""
        newest = np.nanmax(self.history_.created)
        return pd.DataFrame({"user_id": self.history_.users[:2],
                             "request_time": pd.to_datetime([newest, newest], unit="s")})

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """MLflow pyfunc face: user_id and request_time per row in, five posts per row out."""
        return self.recommend(frame.assign(request_id=np.arange(len(frame))), k=5)

    def feature_importance(self) -> pd.DataFrame:
        return self.ranker_.feature_importance()

    def _fit_parts(self, history: pd.DataFrame, posts: pd.DataFrame, users: pd.DataFrame,
                   vectors: pd.DataFrame | None) -> tuple[FeedHistory, dict[str, CandidateGenerator]]:
        indexed = FeedHistory.build(history, posts, users, self.positive_action, self.recent_days, vectors)
        return indexed, {name: GENERATORS.build(spec).fit(indexed) for name, spec in self.generators.items()}

    def _features(self, history: FeedHistory, generators: dict[str, CandidateGenerator], rows: np.ndarray,
                  times: np.ndarray):
        candidates = generate_candidates(history, generators, rows, times, self.candidates, self.exclude)
        x, names = FeedFeatures(self.text_components).build(history, candidates, list(generators), rows, times)
        return candidates, x, names

    def _fit_ranker(self, history: pd.DataFrame, posts: pd.DataFrame, users: pd.DataFrame,
                    vectors: pd.DataFrame | None) -> Ranker:
        """Learn on ``inner_splits`` nested splits of the history, each peeled off the previous one."""
        xs, labels, groups, offset, names = [], [], [], 0, []
        for split_number in range(self.inner_splits):
            inner = split_feed(history, self.protocol, self.positive_action)
            requests = inner.requests
            if len(requests) > self.max_train_requests:
                requests = requests.sample(self.max_train_requests, random_state=self.seed)
            indexed, generators = self._fit_parts(inner.history, posts, users, vectors)
            candidates, x, names = self._features(indexed, generators, indexed.rows(requests["user_id"].to_numpy()),
                                                  seconds(pd.to_datetime(requests["request_time"]).to_numpy()))
            request_pos = candidates.request_pos
            relevant = pd.MultiIndex.from_frame(inner.targets[["request_id", "post_id"]])
            pairs = pd.MultiIndex.from_arrays([requests["request_id"].to_numpy()[request_pos],
                                               indexed.posts[candidates.cols]])
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
        ranker = RANKERS.build(self.ranker, seed=self.seed, threads=self.threads)
        return ranker.fit(np.vstack(xs), np.concatenate(labels), np.concatenate(groups), names)

    def _top(self, request_pos: np.ndarray, cols: np.ndarray, score: np.ndarray, k: int) -> RankedPosts:
        # Per request: best score first, ties to the lower post column.
        order = np.lexsort((cols, -score, request_pos))
        pos, col, best = request_pos[order], cols[order], score[order]
        rank = np.arange(len(pos)) - np.searchsorted(pos, pos, side="left") + 1
        keep = rank <= k
        return RankedPosts(pos[keep], rank[keep], self.history_.posts.to_numpy()[col[keep]], best[keep])
