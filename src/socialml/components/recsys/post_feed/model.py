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

from socialml.components.core.errors import DataStop, SettingsError
from socialml.components.core.progress import progress
from socialml.components.data.features import FeatureSnapshots
from socialml.components.evaluation.protocols import history_ends, split_feed, time_cut
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
    threads: int = 2  # cores the ranker fits on (a feed is always scored on one)
    history_: FeedHistory | None = None
    generators_: dict[str, CandidateGenerator] = field(default_factory=dict)
    ranker_: Ranker | FirstGeneratorOrder | None = None

    def __post_init__(self) -> None:
        if self.exclude not in ("positives", "seen", "none"):
            raise SettingsError(f"exclude must be positives, seen or none, got '{self.exclude}'")
        if not self.generators:
            raise SettingsError("a post feed needs at least one candidate generator")
        for spec in self.generators.values():
            GENERATORS.check(spec)
        if self.ranker is not None:
            RANKERS.check(self.ranker)

    def fit(self, history: pd.DataFrame, posts: pd.DataFrame, users: pd.DataFrame,
            post_vectors: pd.DataFrame | None = None, snapshots: FeatureSnapshots | None = None) -> PostFeedModel:
        """``snapshots``: user and post features as of ``snapshot_times(history["timestamp"])`` (from the
        enrichment pipeline); without them each window's features are computed from its events."""
        if self.use_text and post_vectors is None:
            raise SettingsError("use_text is set but no post embeddings were given")
        if snapshots is not None and not self.reads_snapshots():
            raise SettingsError(f"a ranker learning on a {self.protocol['kind']} split has no cut to read feature "
                                "snapshots as of: fit without snapshots")
        vectors = post_vectors if self.use_text else None
        self.ranker_ = (FirstGeneratorOrder(rank_column=len(self.generators)) if self.ranker is None
                        else self._fit_ranker(history, posts, users, vectors, snapshots))
        self.history_, self.generators_ = self._fit_parts(history, posts, users, vectors, snapshots)
        return self

    def reads_snapshots(self) -> bool:
        """Whether every window this model learns from ends at a cut (so its features have an as-of time)."""
        return self.ranker is None or self.protocol["kind"] == "time_split"

    def snapshot_times(self, timestamps: pd.Series) -> list[pd.Timestamp]:
        """The times whose feature snapshots ``fit`` reads, given the event times of its history."""
        if self.ranker is None:
            return [timestamps.max()]
        return history_ends(timestamps, self.protocol, self.inner_splits)

    def recommend(self, requests: pd.DataFrame, k: int = 5, batch_size: int = 512) -> pd.DataFrame:
        """One row per (request, rank): request_id, user_id, rank (1..k), post_id, score."""
        missing = {"request_id", "user_id", "request_time"} - set(requests.columns)
        if missing:
            raise KeyError(f"requests lack columns {sorted(missing)}")
        user_ids = requests["user_id"].to_numpy()
        times = pd.to_datetime(requests["request_time"]).to_numpy()
        parts = []
        for start in progress(range(0, len(requests), batch_size), desc="post feed", leave=False):
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
        candidates, x, _ = self._features(self.history_, self.generators_, rows, seconds(times))
        return self._top(candidates.request_pos, candidates.cols, self.ranker_.score(x), k)

    def example_frame(self) -> pd.DataFrame:
        """An input ``predict_frame`` takes: two known users at the newest post's time (MLflow's input example)."""
        created = self.history_.created
        newest = np.nanmax(created) if np.isfinite(created).any() else 0.0  # no creation times: no time blocks a post
        return pd.DataFrame({"user_id": self.history_.users[:2],
                             "request_time": pd.to_datetime([newest, newest], unit="s")})

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """MLflow pyfunc face: user_id and request_time per row in, five posts per row out."""
        return self.recommend(frame.assign(request_id=np.arange(len(frame))), k=5)

    def feature_importance(self) -> pd.DataFrame:
        return self.ranker_.feature_importance()

    def _fit_parts(self, history: pd.DataFrame, posts: pd.DataFrame, users: pd.DataFrame,
                   vectors: pd.DataFrame | None, snapshots: FeatureSnapshots | None
                   ) -> tuple[FeedHistory, dict[str, CandidateGenerator]]:
        indexed = FeedHistory.build(history, posts, users, self.positive_action, self.recent_days, vectors,
                                    snapshots)
        return indexed, {name: GENERATORS.build(spec).fit(indexed) for name, spec in self.generators.items()}

    def _features(self, history: FeedHistory, generators: dict[str, CandidateGenerator], rows: np.ndarray,
                  times: np.ndarray):
        candidates = generate_candidates(history, generators, rows, times, self.candidates, self.exclude)
        x, names = FeedFeatures(self.text_components).build(history, candidates, list(generators), rows, times)
        return candidates, x, names

    def _inner_splits(self, history: pd.DataFrame, posts: pd.DataFrame, users: pd.DataFrame,
                      vectors: pd.DataFrame | None, snapshots: FeatureSnapshots | None):
        """Per nested split of the history (each peeled off the previous one): its sampled requests,
        their candidates, the candidates' features and names, labels, and the history's index."""
        for _ in range(self.inner_splits):
            inner = split_feed(history, self.protocol, self.positive_action)
            requests = inner.requests
            if len(requests) > self.max_train_requests:
                requests = requests.sample(self.max_train_requests, random_state=self.seed)
            indexed, generators = self._fit_parts(inner.history, posts, users, vectors, snapshots)
            candidates, x, names = self._features(indexed, generators, indexed.rows(requests["user_id"].to_numpy()),
                                                  seconds(pd.to_datetime(requests["request_time"]).to_numpy()))
            relevant = pd.MultiIndex.from_frame(inner.targets[["request_id", "post_id"]])
            pairs = pd.MultiIndex.from_arrays([requests["request_id"].to_numpy()[candidates.request_pos],
                                               indexed.posts[candidates.cols]])
            yield requests, candidates, x, names, pairs.isin(relevant).astype(np.float32), indexed
            history = inner.history

    def training_rows(self, history: pd.DataFrame, posts: pd.DataFrame, users: pd.DataFrame,
                      post_vectors: pd.DataFrame | None = None, snapshots: FeatureSnapshots | None = None
                      ) -> pd.DataFrame:
        """What the ranker learns from when fitted on ``history``: one row per (inner split, request,
        candidate) with the user, request time, post, label and every feature."""
        vectors = post_vectors if self.use_text else None
        frames = []
        for number, (requests, candidates, x, names, label, indexed) in enumerate(
                self._inner_splits(history, posts, users, vectors, snapshots), start=1):
            request = requests.iloc[candidates.request_pos].reset_index(drop=True)
            frames.append(pd.concat([request.assign(inner_split=number, post_id=indexed.posts[candidates.cols],
                                                    label=label), pd.DataFrame(x, columns=names)], axis=1))
        return pd.concat(frames, ignore_index=True)

    def explain(self, user_ids: np.ndarray, times: np.ndarray) -> pd.DataFrame:
        """What the ranker sees when serving: one row per (request, candidate) with the features and score."""
        rows = self.history_.rows(user_ids)
        candidates, x, names = self._features(self.history_, self.generators_, rows, seconds(times))
        pos = candidates.request_pos
        served = pd.DataFrame({"user_id": np.asarray(user_ids)[pos], "request_time": np.asarray(times)[pos],
                               "post_id": self.history_.posts[candidates.cols], "score": self.ranker_.score(x)})
        return pd.concat([served, pd.DataFrame(x, columns=names)], axis=1)

    def _fit_ranker(self, history: pd.DataFrame, posts: pd.DataFrame, users: pd.DataFrame,
                    vectors: pd.DataFrame | None, snapshots: FeatureSnapshots | None) -> Ranker:
        """Learn on the requests of every inner split that have a relevant post among their candidates."""
        xs, labels, groups, offset, names = [], [], [], 0, []
        splits = progress(self._inner_splits(history, posts, users, vectors, snapshots), total=self.inner_splits,
                          desc="ranker training splits", leave=False)
        for number, (requests, candidates, x, names, label, _) in enumerate(splits, start=1):
            request_pos = candidates.request_pos
            useful = pd.Series(label).groupby(request_pos).transform("max").to_numpy() > 0
            logger.info("post feed ranker, inner split %d: %d requests, %d with a relevant candidate, %d rows",
                        number, len(requests), len(np.unique(request_pos[useful])), int(useful.sum()))
            xs.append(x[useful])
            labels.append(label[useful])
            groups.append(request_pos[useful] + offset)  # request ids unique across the splits
            offset += len(requests)
        if not sum(len(label) for label in labels):
            raise DataStop("no training request has a relevant post among its candidates: "
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


def configured_model(spec: dict[str, Any], settings: dict[str, Any]) -> PostFeedModel:
    """A variant's options over its source's settings (``post_feed.sources.<source>``); the ranker's
    inner split defaults to the source's split."""
    options = {"protocol": settings["split"], **spec, "positive_action": settings["positive_action"],
               "exclude": settings["exclude"]}
    return PostFeedModel(**options)


def source_reads_snapshots(settings: dict[str, Any]) -> bool:
    """Whether a source's variants read feature snapshots: every window they learn from ends at a cut."""
    return settings["split"]["kind"] == "time_split" and all(
        configured_model(spec, settings).reads_snapshots() for spec in settings["models"].values())


def source_snapshot_times(timestamps: pd.Series, settings: dict[str, Any]) -> list[pd.Timestamp]:
    """Every time a source's variants read features as of: fitted on the whole log (for serving) and on
    the history before the evaluation split's cut, each with the inner splits of its ranker."""
    evaluated = timestamps[timestamps < time_cut(timestamps, settings["split"])]
    times = set()
    for spec in settings["models"].values():
        model = configured_model(spec, settings)
        times.update(model.snapshot_times(timestamps), model.snapshot_times(evaluated))
    return sorted(t for t in times if not pd.isna(t))
