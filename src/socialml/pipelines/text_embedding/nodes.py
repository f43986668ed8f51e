"""Embedding nodes: each distinct text is embedded once (cached on disk by encoder and text hash)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from socialml.components.text.encoders import build_encoder, cached_encode, encoder_record
from socialml.components.text.preprocess import join_fields, normalise
from socialml.components.text.vectors import encoder_of, to_frame, to_matrix


def _embed(ids: pd.Series | list, texts: list[str], id_column: str, params: dict[str, Any],
           encoder_key: str = "encoder") -> pd.DataFrame:
    """The texts' embeddings keyed by ``ids``, with the record of the encoder (``params[encoder_key]``) that made them."""
    encoder = build_encoder(params[encoder_key])
    vectors = cached_encode(encoder, texts, params.get("cache_dir"))
    return to_frame(ids, vectors, id_column, encoder_record(encoder, params[encoder_key]))


def _distinct_answers(answers: pd.DataFrame) -> list[str]:
    return sorted(set(answers["answer_text"].map(normalise)))


def embed_answers(answers: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """One row per distinct normalised answer text, by the shared encoder (the answers' sentiment reads these)."""
    texts = _distinct_answers(answers)
    return _embed(texts, texts, "normalised_text", params)


def embed_answers_for_clustering(answers: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """One row per distinct normalised answer text, by the clustering's encoder: clustering groups these,
    weighted by their counts."""
    texts = _distinct_answers(answers)
    return _embed(texts, texts, "normalised_text", params, "clustering_encoder")


def embed_questions(answers: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """One row per question id, its text embedded by the shared encoder: what a question asks for colours
    its answers' sentiment (``QuestionFrame``)."""
    questions = answers.drop_duplicates("question_id")
    return _embed(questions["question_id"], questions["question_text"].map(normalise).tolist(), "question_id", params)


def embed_posts(posts: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    texts = join_fields(posts["doc_text"], posts["image2text"], posts["speech2text"])
    return _embed(posts["post_id"], texts, "post_id", params)


def embed_sentiment_texts(sentiment_texts: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    return _embed(sentiment_texts["text_id"], sentiment_texts["text"].tolist(), "text_id", params)


def embed_sentiment_anchors(anchors: dict[str, list[str]], params: dict[str, Any]) -> pd.DataFrame:
    """Anchor phrases per sentiment, for the zero-shot fallback where no labelled texts exist."""
    rows = [(label, phrase) for label, phrases in anchors.items() for phrase in phrases]
    frame = _embed([label for label, _ in rows], [p for _, p in rows], "sentiment", params)
    frame.insert(1, "phrase", [p for _, p in rows])
    return frame


def reduce_embeddings(embeddings: pd.DataFrame, n_components: int, seed: int = 0) -> pd.DataFrame:
    """PCA-reduced copy (seed 004 fed 25 components to its ranker)."""
    from sklearn.decomposition import PCA

    matrix = to_matrix(embeddings)
    n = max(1, min(n_components, matrix.shape[0], matrix.shape[1]))
    reduced = PCA(n_components=n, random_state=seed).fit_transform(matrix) if len(matrix) > 1 else matrix[:, :n]
    id_column = embeddings.columns[0]
    frame = to_frame(embeddings[id_column], reduced, id_column, encoder_of(embeddings))
    frame.columns = [id_column] + [f"pca_{i:02d}" for i in range(reduced.shape[1])]
    return frame
