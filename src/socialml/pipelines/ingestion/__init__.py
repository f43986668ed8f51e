from .pipeline import create_pipeline, create_publish_pipeline

__all__ = ["create_pipeline", "create_publish_pipeline"]
