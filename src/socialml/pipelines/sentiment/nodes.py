"""Sentiment head trained on a labelled corpus, scored on its held-out split next to a TF-IDF baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from socialml.components.metrics import classification_scores
from socialml.components.sentiment import SentimentHead, predict_labels
from socialml.components.vectors import to_matrix


def split_train_test(frame: pd.DataFrame, test_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The source's own split where it has one (train/test), else a stratified random split."""
    if frame["split"].notna().any():
        train = (frame["split"] == "train").to_numpy()
        return train, (frame["split"] == "test").to_numpy()
    from sklearn.model_selection import train_test_split

    index = np.arange(len(frame))
    train_idx, _ = train_test_split(index, test_size=test_share, random_state=seed, stratify=frame["sentiment"])
    train = np.isin(index, train_idx)
    return train, ~train


def fit_sentiment_model(sentiment_texts: pd.DataFrame, embeddings: pd.DataFrame, params: dict[str, Any]):
    frame = sentiment_texts.merge(embeddings, on="text_id", validate="one_to_one")
    vectors = to_matrix(frame)
    train, test = split_train_test(frame, params["test_share"], params["seed"])
    texts, labels = frame["text"].tolist(), frame["sentiment"].to_numpy()
    model = SentimentHead(c=params["c"], seed=params["seed"]).fit(
        [texts[i] for i in np.flatnonzero(train)], vectors[train], labels[train])
    baseline = SentimentHead(c=params["c"], embedding_weight=0.0, seed=params["seed"]).fit(
        [texts[i] for i in np.flatnonzero(train)], vectors[train], labels[train])
    test_texts = [texts[i] for i in np.flatnonzero(test)]
    rows = []
    for name, candidate in (("embedding_and_char_tfidf", model), ("baseline_char_tfidf", baseline)):
        predicted = predict_labels(candidate.predict_proba(test_texts, vectors[test]))
        rows.append({"model": name, "n_train": int(train.sum()), "n_test": int(test.sum()),
                     **classification_scores(labels[test], predicted)})
    report = pd.DataFrame(rows)
    metrics = {f"sentiment.{r['model']}.{k}": {"value": float(r[k]), "step": 0}
               for r in rows for k in ("macro_f1", "accuracy")}
    return model, report, metrics
