import numpy as np
import pandas as pd
import pytest

from socialml.components.data.ingest import adapt, validate
from socialml.components.text.vectors import to_frame
from socialml.pipelines.sentiment.nodes import fit_sentiment_model

SENTIMENTS = np.array(["positive", "neutral", "negative"])


def test_the_head_and_the_served_average_lead_the_tfidf_baseline_with_an_interval_when_only_the_embedding_knows():
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
    assert rows.index[-1] == "baseline_word_char_tfidf"  # best first
    for name in ("embedding_and_char_tfidf", "ensemble_head_and_tfidf"):
        row = rows.loc[name]
        assert row["macro_f1_low"] <= row["macro_f1"] <= row["macro_f1_high"]
        assert 0 < row["gain_low"] < row["gain_vs_baseline_word_char_tfidf"] < row["gain_high"]
        assert metrics[f"sentiment/{name}/gain_low"]["value"] > 0
    assert rows.loc["baseline_word_char_tfidf", "gain_vs_baseline_word_char_tfidf"] == 0
    assert (rows["n_test"] == 60).all()
    # The saved model is the average of the head (which reads the embedding) and the baseline.
    head, baseline = model.models
    assert model.weights == [0.5, 0.5] and model.embeddings_from is head.embeddings_from
    assert baseline.embedding_weight == 0 and baseline.embeddings_from is None



def test_a_corpus_without_neutral_texts_gives_neutral_no_probability():
    # Tweets labelled only positive or negative: the three-class face stays, neutral at zero.
    labels = SENTIMENTS[[0, 2]][np.arange(60) % 2]
    corpus = pd.DataFrame({"text_id": [f"t{i}" for i in range(60)], "text": [f"текст {i % 7}" for i in range(60)],
                           "sentiment": labels, "split": None})
    vectors = np.eye(3)[np.where(labels == "positive", 0, 2)]
    model, report, _, _ = fit_sentiment_model(corpus, to_frame(corpus["text_id"], vectors, "text_id"),
                                              {"c": 4.0, "test_share": 0.2, "seed": 0, "bootstrap_runs": 20})
    probabilities = model.predict_proba(["текст 1", "текст 2"], vectors[:2])
    assert list(probabilities.columns) == SENTIMENTS.tolist()
    assert (probabilities["neutral"] == 0).all() and np.allclose(probabilities.sum(axis=1), 1)
    scores = report.set_index("model")["macro_f1"]  # the embedding tells the two apart, the words do not
    assert scores["embedding_and_char_tfidf"] == scores["ensemble_head_and_tfidf"] == 1


def test_a_tweets_corpus_coded_one_and_minus_one_is_ingested_and_trains():
    # A public tweets set as it ships: two files, labels 1 / -1, one row with a label outside the code.
    rng = np.random.default_rng(1)

    def tweets(n: int) -> pd.DataFrame:
        codes = rng.choice(["1", "-1"], n)
        words = [("класс 😀 " if code == "1" else "ужас 😡 ") + f"день {i}" for i, code in enumerate(codes)]
        return pd.DataFrame({"ttext": words, "ttype": codes})

    raw = {"tweets_train": tweets(200), "tweets_test": tweets(60)}
    raw["tweets_test"].loc[5, "ttype"] = "2"
    layout = {"raw": {"tweets_train": "train", "tweets_test": "test"},
              "columns": {"text": "ttext", "sentiment": "ttype"},
              "values": {"sentiment": {1: "positive", -1: "negative"}}, "generate_id": "text_id"}
    accepted, rejected = validate("sentiment_texts", adapt("sentiment_texts", layout, raw))
    assert len(accepted) == 259 and set(accepted["sentiment"]) == {"positive", "negative"}
    assert rejected["reason"].tolist() == ["sentiment: fails isin(('positive', 'neutral', 'negative')) (got '2')"]
    vectors = np.zeros((len(accepted), 4))  # the words and emoji carry the sentiment here
    model, report, _, _ = fit_sentiment_model(accepted, to_frame(accepted["text_id"], vectors, "text_id"),
                                              {"c": 4.0, "test_share": 0.2, "seed": 0, "bootstrap_runs": 20})
    assert (report["n_test"] == 59).all() and report["macro_f1"].min() == 1
    assert model.predict_proba(["ужас 😡"], vectors[:1]).iloc[0].idxmax() == "negative"


def test_an_unknown_baseline_is_named():
    corpus = pd.DataFrame({"text_id": [f"t{i}" for i in range(30)], "text": [f"текст {i % 5}" for i in range(30)],
                           "sentiment": SENTIMENTS[np.arange(30) % 3], "split": None})
    with pytest.raises(ValueError, match="baseline 'tfidf' is not among"):
        fit_sentiment_model(corpus, to_frame(corpus["text_id"], np.eye(3)[np.arange(30) % 3], "text_id"),
                            {"c": 4.0, "test_share": 0.2, "seed": 0, "baseline": "tfidf"})


def test_serving_a_fine_tuned_row_without_fine_tuning_stops_naming_the_setting():
    corpus = pd.DataFrame({"text_id": [f"t{i}" for i in range(30)], "text": [f"текст {i}" for i in range(30)],
                           "sentiment": SENTIMENTS[np.arange(30) % 3], "split": None})
    with pytest.raises(ValueError, match="sentiment.served is 'ensemble_finetuned_head_and_tfidf'"):
        fit_sentiment_model(corpus, to_frame(corpus["text_id"], np.zeros((30, 2)), "text_id"),
                            {"c": 4.0, "test_share": 0.2, "seed": 0, "bootstrap_runs": 20,
                             "served": "ensemble_finetuned_head_and_tfidf"})


def test_a_corpus_of_one_sentiment_stops_naming_it():
    # A values map that maps one raw label only (the other file's labels are rejected elsewhere) leaves one class.
    corpus = pd.DataFrame({"text_id": range(30), "text": [f"текст {i}" for i in range(30)], "sentiment": "positive",
                           "split": None})
    with pytest.raises(ValueError, match="sentiment_texts: every training text is 'positive'"):
        fit_sentiment_model(corpus, to_frame(corpus["text_id"], np.zeros((30, 2)), "text_id"),
                            {"c": 4.0, "test_share": 0.2, "seed": 0, "bootstrap_runs": 20})
