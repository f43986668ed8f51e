import numpy as np
import pandas as pd
import pytest

from socialml.components.text.vectors import to_frame
from socialml.pipelines.sentiment.nodes import fit_sentiment_model

SENTIMENTS = np.array(["positive", "neutral", "negative"])


def test_the_embedding_head_leads_the_tfidf_baseline_with_an_interval_when_only_the_embedding_knows():
    rng = np.random.default_rng(0)
    labels = SENTIMENTS[np.arange(300) % 3]
    words = [f"слово{i}" for i in range(40)]
    texts = [" ".join(rng.choice(words, 6)) for _ in labels]  # the words carry no sentiment
    vectors = np.eye(3)[np.arange(300) % 3] + rng.normal(0, 0.3, (300, 3))
    corpus = pd.DataFrame({"text_id": [f"t{i}" for i in range(300)], "text": texts, "sentiment": labels, "split": None})
    model, report, metrics, _ = fit_sentiment_model(
        corpus, to_frame(corpus["text_id"], vectors, "text_id"),
        {"c": 4.0, "test_share": 0.2, "seed": 0, "baseline": "baseline_word_char_tfidf", "bootstrap_runs": 50})
    rows = report.set_index("model")
    assert rows.index.tolist() == ["embedding_and_char_tfidf", "baseline_word_char_tfidf"]  # best first
    head = rows.loc["embedding_and_char_tfidf"]
    assert head["macro_f1_low"] <= head["macro_f1"] <= head["macro_f1_high"]
    assert 0 < head["gain_low"] < head["gain_vs_baseline_word_char_tfidf"] < head["gain_high"]
    assert rows.loc["baseline_word_char_tfidf", "gain_vs_baseline_word_char_tfidf"] == 0
    assert metrics["sentiment/embedding_and_char_tfidf/gain_low"]["value"] > 0
    assert (rows["n_test"] == 60).all()



def test_an_unknown_baseline_is_named():
    corpus = pd.DataFrame({"text_id": [f"t{i}" for i in range(30)], "text": [f"текст {i % 5}" for i in range(30)],
                           "sentiment": SENTIMENTS[np.arange(30) % 3], "split": None})
    with pytest.raises(ValueError, match="baseline 'tfidf' is not among"):
        fit_sentiment_model(corpus, to_frame(corpus["text_id"], np.eye(3)[np.arange(30) % 3], "text_id"),
                            {"c": 4.0, "test_share": 0.2, "seed": 0, "baseline": "tfidf"})
