"""Text embeddings for one source: answers (normalised, distinct), posts, sentiment texts."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Pipeline, node

from socialml.components.text.encoders import check_encoder
from socialml.pipelines.sources import family_pipeline, source_tables

from .nodes import (
    embed_answers,
    embed_answers_for_clustering,
    embed_posts,
    embed_questions,
    embed_sentiment_anchors,
    embed_sentiment_texts,
    reduce_embeddings,
)

PARAMS = "params:text_embedding"


def create_pipeline(source: str, params: dict[str, Any]) -> Pipeline:
    tables = source_tables(source, params)
    for role in ("encoder", "clustering_encoder"):
        check_encoder(params["text_embedding"][role])  # a mistyped option fails now, not mid-run
    nodes = []
    if "answers" in tables:
        nodes += [
            node(embed_answers, ["prm_answers", PARAMS], "mi_answer_embeddings", name="embed_answers"),
            node(embed_answers_for_clustering, ["prm_answers", PARAMS], "mi_answer_cluster_embeddings",
                 name="embed_answers_for_clustering"),
            node(embed_sentiment_anchors, ["params:clustering.sentiment_anchors", PARAMS],
                 "mi_sentiment_anchor_embeddings", name="embed_sentiment_anchors"),
            node(embed_questions, ["prm_answers", PARAMS], "mi_question_embeddings", name="embed_questions"),
            node(embed_sentiment_anchors, ["params:question_frame.anchors", PARAMS],
                 "mi_question_frame_anchor_embeddings", name="embed_question_frame_anchors"),
        ]
    if "posts" in tables:
        nodes += [
            node(embed_posts, ["prm_posts", PARAMS], "mi_post_embeddings", name="embed_posts"),
            node(reduce_embeddings, ["mi_post_embeddings", "params:text_embedding.pca_components"],
                 "mi_post_embeddings_pca", name="reduce_post_embeddings"),
        ]
    if "sentiment_texts" in tables:
        nodes.append(node(embed_sentiment_texts, ["prm_sentiment_texts", PARAMS], "mi_sentiment_embeddings",
                          name="embed_sentiment_texts"))
    if not nodes:
        return Pipeline([])
    used = {i for n in nodes for i in n.inputs if i.startswith("params:")}
    return family_pipeline("text_embedding", nodes, namespace=source, parameters=used, tags=["text_embedding"])
