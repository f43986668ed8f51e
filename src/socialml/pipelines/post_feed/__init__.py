"""``recommender.post_feed``: seed 004's top-5 post feed, one namespaced instance per model variant."""

from .pipeline import create_ab_test_pipeline, create_pipeline

__all__ = ["create_ab_test_pipeline", "create_pipeline"]
