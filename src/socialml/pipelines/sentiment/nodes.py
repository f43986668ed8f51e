"""Sentiment head trained on a labelled corpus, scored on its held-out split next to the TF-IDF baseline of
../shared/BASELINES.md (words and characters, logistic regression) and the average of the two, with
bootstrap intervals; where ``sentiment.finetune`` is set, a fine-tuned transformer too, alone and averaged
with the two. ``sentiment.served`` names the row whose model is saved and served."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from socialml.components.core.errors import DataStop, SettingsError
from socialml.components.evaluation.charts import confusion_figure
from socialml.components.evaluation.metrics import classification_intervals, classification_scores, comparison_reference
from socialml.components.evaluation.protocols import train_test_rows
from socialml.components.evaluation.tables import comparison_table, learning_curve_payload
from socialml.components.text.sentiment import BlendedSentiment, FineTunedSentiment, SentimentHead, predict_labels
from socialml.components.text.vectors import encoder_of, to_matrix

HEAD_AND_TFIDF = "ensemble_head_and_tfidf"  # the default served row (globals.yml: sentiment_served)


def fit_sentiment_model(sentiment_texts: pd.DataFrame, embeddings: pd.DataFrame, params: dict[str, Any]):
    frame = sentiment_texts.merge(embeddings, on="text_id", validate="one_to_one")
    vectors = to_matrix(frame)
    train, test = train_test_rows(frame["split"], frame["sentiment"], params["test_share"], params["seed"],
                                  "sentiment_texts")
    texts, labels = frame["text"].tolist(), frame["sentiment"].to_numpy()
    if len(trained := sorted(set(labels[train]))) < 2:
        raise DataStop(f"sentiment_texts: every training text is {trained[0]!r}; a sentiment model needs at least "
                       "two of positive, neutral and negative (does the layout's `values` map each raw label?)")
    train_texts = [texts[i] for i in np.flatnonzero(train)]
    head = SentimentHead(c=params["c"], seed=params["seed"], embeddings_from=encoder_of(embeddings)).fit(
        train_texts, vectors[train], labels[train])
    baseline = SentimentHead(c=params["c"], embedding_weight=0.0, seed=params["seed"], word_ngrams=True).fit(
        train_texts, vectors[train], labels[train])
    test_texts, truth = [texts[i] for i in np.flatnonzero(test)], labels[test]
    # The two averaged, equal weights (on RuSentiment it leads the baseline where the head alone ties it).
    candidates = {"baseline_word_char_tfidf": baseline, "embedding_and_char_tfidf": head,
                  HEAD_AND_TFIDF: BlendedSentiment([head, baseline], [1.0, 1.0])}
    if params.get("finetune"):  # a transformer fine-tuned on the texts, alone and averaged with the two
        finetuned = FineTunedSentiment(params["finetune"], seed=params["seed"]).fit(train_texts, None, labels[train])
        candidates |= {"finetuned_e5": finetuned,
                       "ensemble_finetuned_head_and_tfidf": BlendedSentiment([head, baseline, finetuned], [1.0] * 3)}
    served = params.get("served", HEAD_AND_TFIDF)
    if served not in candidates:
        raise SettingsError(f"sentiment.served is {served!r}, not one of the compared models {sorted(candidates)} "
                            "(the fine-tuned rows need sentiment.finetune)")
    model = candidates[served]
    predictions = {name: predict_labels(candidate.predict_proba(test_texts, vectors[test]))
                   for name, candidate in candidates.items()}
    intervals = classification_intervals(truth, predictions, *comparison_reference(params, list(predictions)))
    rows = [{"model": name, "n_train": int(train.sum()), "n_test": int(test.sum()),
             **classification_scores(truth, predicted), **intervals[name]} for name, predicted in predictions.items()]
    report, metrics = comparison_table(rows, "macro_f1", "sentiment")
    if "finetuned_e5" in candidates:
        metrics |= learning_curve_payload("sentiment/finetuned_e5", candidates["finetuned_e5"].training_record)
    classes = [c for c in ("negative", "neutral", "positive") if c in set(labels)] or sorted(set(labels))
    confusions = {name: (truth, predicted) for name, predicted in predictions.items()}
    chart = confusion_figure(confusions, dict.fromkeys(confusions, classes),
                             f"Sentiment on {int(test.sum())} held-out texts: true against predicted")
    return model, report, metrics, chart
