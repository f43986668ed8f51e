"""Candidate generators of the post feed: one interface, one registry.

A generator is fitted on a :class:`FeedHistory` and scores every post for a batch of user rows.
A generator whose scores do not depend on the user (``per_user = False``) scores the posts once at
fit; a request then ranks the posts available to it in that shared order without sorting.

Kinds (``GENERATORS``): ``recent_popularity`` (events in the history's last days), ``newest``
(creation time), ``topic_match`` (the user's like rate over the post's topics), ``sasrec`` (a
self-attentive model of the order of the user's likes), and every
recommender kind of ``recsys.recommenders`` (``als``, ``ease``, ``item_knn``, ...), fitted on the
likes, with that recommender's options. A new generator is a class with ``per_user``, ``fit`` and
``score``, added to ``GENERATORS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from socialml.components.core.parts import Parts, with_options_of
from socialml.components.recsys.post_feed.history import FeedHistory, row_entries
from socialml.components.recsys.recommenders import RECOMMENDERS, Recommender, build_recommender
from socialml.components.recsys.sasrec import SASRec


class CandidateGenerator(Protocol):
    per_user: bool

    def fit(self, history: FeedHistory) -> CandidateGenerator: ...

    def score(self, history: FeedHistory, rows: np.ndarray) -> np.ndarray:
        """(len(rows), n_posts) scores, higher is better; rows past the known users are unknown users."""


@dataclass
class SharedScoreGenerator:
    """A score per post, the same for every request, and the posts in that order (best first, ties to the
    lower column)."""

    per_user = False
    scores_: np.ndarray | None = None
    order_: np.ndarray | None = None

    def post_scores(self, history: FeedHistory) -> np.ndarray:
        raise NotImplementedError

    def fit(self, history: FeedHistory) -> SharedScoreGenerator:
        self.scores_ = self.post_scores(history)
        self.order_ = np.argsort(-self.scores_, kind="stable")
        return self

    def score(self, history: FeedHistory, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.scores_, (len(rows), len(self.scores_)))


class RecentPopularity(SharedScoreGenerator):
    """Seed 004's baseline: the posts with the most events in the history's last ``recent_days``."""

    def post_scores(self, history: FeedHistory) -> np.ndarray:
        return history.recent_popularity


class Newest(SharedScoreGenerator):
    """The most recently created posts."""

    def post_scores(self, history: FeedHistory) -> np.ndarray:
        return np.nan_to_num(history.created, nan=0.0).astype(np.float32)


@dataclass
class TopicMatch:
    """The user's mean like rate over each post's topics."""

    per_user = True

    def fit(self, history: FeedHistory) -> TopicMatch:
        return self

    def score(self, history: FeedHistory, rows: np.ndarray) -> np.ndarray:
        return history.topic_match(rows)


@dataclass
class RecommenderGenerator:
    """Any recommender fitted on the likes; users it does not know score 0 everywhere."""

    recommender: Recommender
    per_user = True

    def fit(self, history: FeedHistory) -> RecommenderGenerator:
        self.recommender.fit(history.positives)
        return self

    def score(self, history: FeedHistory, rows: np.ndarray) -> np.ndarray:
        known = rows < len(history.users)
        scores = np.zeros((len(rows), len(history.posts)), dtype=np.float32)
        if known.any():
            scores[known] = self.recommender.score(rows[known])
        return scores


@dataclass
class SequenceGenerator:
    """A sequential model (SASRec) over each user's positive actions in time order; users without any score 0."""

    model: SASRec
    per_user = True

    def fit(self, history: FeedHistory) -> SequenceGenerator:
        self.model.fit(history.sequences, len(history.posts))
        return self

    def score(self, history: FeedHistory, rows: np.ndarray) -> np.ndarray:
        known = rows < len(history.users)
        scores = np.zeros((len(rows), len(history.posts)), dtype=np.float32)
        if known.any():
            scores[known] = self.model.score([history.sequences[row] for row in rows[known]])
        return scores


def _recommender_kind(kind: str):
    return with_options_of(RECOMMENDERS.kinds[kind],
                           lambda **options: RecommenderGenerator(build_recommender({"kind": kind, **options})))


GENERATORS: Parts[CandidateGenerator] = Parts("candidate generator", {
    "recent_popularity": RecentPopularity, "newest": Newest, "topic_match": TopicMatch,
    "sasrec": with_options_of(SASRec, lambda **options: SequenceGenerator(SASRec(**options))),
    **{kind: _recommender_kind(kind) for kind in RECOMMENDERS.kinds},
})


@dataclass(frozen=True)
class Candidates:
    """The candidates of a batch of requests: (request position, post column) pairs, with every
    generator's score and rank of each (-inf / past the end where a post was not available)."""

    request_pos: np.ndarray
    cols: np.ndarray
    scores: np.ndarray  # pairs × generators
    ranks: np.ndarray  # pairs × generators, 1 = the generator's best available post


def unavailable(history: FeedHistory, rows: np.ndarray, times: np.ndarray, exclude: str) -> np.ndarray:
    """Posts a request may not get: created after it, or excluded as already liked (``positives``) or seen."""
    blocked = history.created[None, :] > times[:, None]
    if exclude != "none":
        matrix = history.positives.matrix if exclude == "positives" else history.seen
        request_pos, cols = row_entries(matrix, rows)
        blocked[request_pos, cols] = True
    return blocked


def generate_candidates(history: FeedHistory, generators: dict[str, CandidateGenerator], rows: np.ndarray,
                        times: np.ndarray, per_generator: int, exclude: str) -> Candidates:
    """The union of every generator's ``per_generator`` best available posts, for each request."""
    blocked = unavailable(history, rows, times, exclude)
    candidate = np.zeros(blocked.shape, dtype=bool)
    scores, ranks = [], []
    for generator in generators.values():
        score = np.where(blocked, -np.inf, generator.score(history, rows))
        if not generator.per_user:
            # Rank among the available posts = how many available ones come before, in the shared order.
            order = generator.order_
            available = ~blocked[:, order]
            rank_in_order = np.cumsum(available, axis=1)
            rank = np.empty(blocked.shape, dtype=np.int64)
            rank[:, order] = rank_in_order
            candidate[:, order] |= available & (rank_in_order <= per_generator)
        else:
            order = np.argsort(-score, axis=1, kind="stable")
            rank = np.empty_like(order)
            rank[np.arange(len(rows))[:, None], order] = np.arange(1, order.shape[1] + 1)
            candidate[np.arange(len(rows))[:, None], order[:, :per_generator]] = True
        scores.append(score)
        ranks.append(rank)
    candidate &= ~blocked
    request_pos, cols = np.nonzero(candidate)
    return Candidates(request_pos, cols, np.stack([s[request_pos, cols] for s in scores], axis=1),
                      np.stack([r[request_pos, cols] for r in ranks], axis=1).astype(np.float32))
