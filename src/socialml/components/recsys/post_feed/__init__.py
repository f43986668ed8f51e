"""Seed 004's post feed as parts, composed the way RecTools' ``CandidateRankingModel`` composes them.

- ``history``: what the feed log says, indexed once (users, posts, likes, post and user statistics,
  topics, post embeddings), shared by every part.
- ``generators``: candidate generators behind one interface and one registry (``GENERATORS``): the
  built-in ``recent_popularity``, ``newest`` and ``topic_match``, and every recommender kind.
- ``features``: the features of each (request, candidate) pair.
- ``ranker``: the model that orders the candidates (``RANKERS``: CatBoost), or the first generator's order.
- ``model``: ``PostFeedModel``, which fits the parts and serves ``recommend`` and ``rank_posts``.

May import ``core``, ``data``, ``evaluation`` and ``recsys.recommenders``.
"""

from socialml.components.recsys.post_feed.model import PostFeedModel, RankedPosts

__all__ = ["PostFeedModel", "RankedPosts"]
