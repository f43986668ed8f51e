"""``recommender.cross_sell``: seed 003's product recommendations, one namespaced instance per model."""

from .pipeline import create_pipeline, create_release_pipeline

__all__ = ["create_pipeline", "create_release_pipeline"]
