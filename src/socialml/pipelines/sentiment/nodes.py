"""Sentiment head trained on a labelled corpus, scored on its held-out split next to a TF-IDF baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from socialml.components.evaluation.charts import confusion_figure
from socialml.components.evaluation.metrics import classification_scores
from socialml.components.evaluation.protocols import train_test_rows
from socialml.components.evaluation.tables import comparison_table
from socialml.components.text.sentiment import SentimentHead, predict_labels
from socialml.components.text.vectors import encoder_of, to_matrix


def fit_sentiment_model(sentiment_texts: pd.DataFrame, embeddings: pd.DataFrame, params: dict[str, Any]):
    frame = sentiment_texts.merge(embeddings, on="text_id", validate="one_to_one")
    vectors = to_matrix(frame)
    train, test = train_test_rows(frame["split"], frame["sentiment"], params["test_share"], params["seed"])
    texts, labels = frame["text"].tolist(), frame["sentiment"].to_numpy()
    model = SentimentHead(c=params["c"], seed=params["seed"], embeddings_from=encoder_of(embeddings)).fit(
        [texts[i] for i in np.flatnonzero(train)], vectors[train], labels[train])
    baseline = SentimentHead(c=params["c"], embedding_weight=0.0, seed=params["seed"]).fit(
        [texts[i] for i in np.flatnonzero(train)], vectors[train], labels[train])
    test_texts = [texts[i] for i in np.flatnonzero(test)]
    rows, confusions = [], {}
    for name, candidate in (("embedding_and_char_tfidf", model), ("baseline_char_tfidf", baseline)):
        predicted = predict_labels(candidate.predict_proba(test_texts, vectors[test]))
        rows.append({"model": name, "n_train": int(train.sum()), "n_test": int(test.sum()),
                     **classification_scores(labels[test], predicted)})
        confusions[name] = (labels[test], predicted)
    report, metrics = comparison_table(rows, "macro_f1", "sentiment")
    classes = [c for c in ("negative", "neutral", "positive") if c in set(labels)] or sorted(set(labels))
    chart = confusion_figure(confusions, dict.fromkeys(confusions, classes),
                             f"Sentiment on {int(test.sum())} held-out texts: true against predicted")
    return model, report, metrics, chart
