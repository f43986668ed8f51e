import numpy as np
import pandas as pd
import pytest

from socialml.components.text.sentiment import (
    BlendedSentiment, FineTunedSentiment, SentimentHead, ZeroShotSentiment, predict_labels,
)

TEXTS = ["супер, класс", "отлично!", "ужасно", "кошмар 😡", "завтра в 10", "встреча у метро"] * 5
LABELS = ["positive", "positive", "negative", "negative", "neutral", "neutral"] * 5


def _embeddings(texts):
    # Uninformative embeddings: the character n-grams have to carry the sentiment here.
    return np.zeros((len(texts), 8), dtype=np.float32)


def test_head_learns_labels_and_returns_a_column_per_class():
    head = SentimentHead().fit(TEXTS, _embeddings(TEXTS), LABELS)
    probabilities = head.predict_proba(["отлично!", "кошмар 😡"], _embeddings(["a", "b"]))
    assert list(probabilities.columns) == ["positive", "neutral", "negative"]
    assert np.allclose(probabilities.sum(axis=1), 1)
    assert predict_labels(probabilities).tolist() == ["positive", "negative"]


def test_unknown_labels_are_refused():
    with pytest.raises(ValueError, match="unknown sentiment labels"):
        SentimentHead().fit(["a", "b"], np.zeros((2, 2)), ["positive", "speech"])


def test_zero_shot_picks_the_closest_anchor_centre_and_blend_averages():
    anchors = {"positive": np.array([[1.0, 0, 0]]), "neutral": np.array([[0, 1.0, 0]]),
               "negative": np.array([[0, 0, 1.0]])}
    zero = ZeroShotSentiment(anchors, temperature=0.1)
    probabilities = zero.predict_proba(["x", "y"], np.array([[0.9, 0.1, 0], [0, 0.2, 0.9]]))
    assert predict_labels(probabilities).tolist() == ["positive", "negative"]
    blend = BlendedSentiment([zero, zero], [1, 3]).predict_proba(["x"], np.array([[0.9, 0.1, 0]]))
    assert np.allclose(blend.to_numpy(), probabilities.iloc[[0]].to_numpy())
    with pytest.raises(ValueError, match="anchors"):
        ZeroShotSentiment({"positive": np.ones((1, 3))})


def test_a_fine_tuned_transformer_learns_sentiment_from_texts_alone_and_serves_raw_texts():
    model = FineTunedSentiment({"model": "e5_small", "trainable_layers": 2, "epochs": 10, "learning_rate": 1e-3,
                                "batch_size": 8, "max_length": 16, "num_threads": 2, "patience": 10}).fit(
        TEXTS * 2, None, LABELS * 2)
    probabilities = model.predict_frame(pd.DataFrame({"text": ["отлично!", "кошмар 😡", "встреча у метро"]}))
    assert list(probabilities.columns) == ["positive", "neutral", "negative"]
    assert np.allclose(probabilities.sum(axis=1), 1)
    assert predict_labels(probabilities).tolist() == ["positive", "negative", "neutral"]
    # Averaged with a head that reads embeddings, the blend takes that head's encoder record.
    head = SentimentHead(embeddings_from={"identity": "test-encoder"}).fit(TEXTS, _embeddings(TEXTS), LABELS)
    assert BlendedSentiment([model, head], [1.0, 1.0]).embeddings_from == {"identity": "test-encoder"}


def test_a_fine_tuned_transformer_refuses_an_unknown_option_before_training():
    with pytest.raises(ValueError, match="trainable_layer"):
        FineTunedSentiment({"model": "e5_small", "trainable_layer": 2})
