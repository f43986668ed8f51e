"""``recommender.post_feed``: seed 004's top-5 post feed, one namespaced instance per model variant."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
