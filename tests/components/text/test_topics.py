import numpy as np
import pytest

from socialml.components.evaluation.metrics import multilabel_scores
from socialml.components.text.topics import HeadTopicClassifier, best_thresholds, label_matrix

LABELS = ["sport", "politics", "humor"]
TEXTS = (["матч гол команда"] * 10 + ["выборы закон дума"] * 10 + ["мем кот шутка"] * 10
         + ["матч и выборы закон"] * 6)
TOPICS = [["sport"]] * 10 + [["politics"]] * 10 + [["humor"]] * 10 + [["sport", "politics"]] * 6


def test_label_matrix_ignores_unknown_labels():
    y = label_matrix([["sport", "chess"], []], LABELS)
    assert y.tolist() == [[1, 0, 0], [0, 0, 0]]


def test_thresholds_maximise_validation_f1_per_label():
    y = np.array([[1], [1], [0], [0]])
    probabilities = np.array([[0.3], [0.35], [0.1], [0.2]])
    assert 0.2 < best_thresholds(y, probabilities)[0] <= 0.3


@pytest.mark.parametrize("features,head", [("tfidf", "logreg"), ("embedding", "lightgbm"), ("both", "logreg")])
def test_heads_learn_multi_label_topics(features, head):
    y = label_matrix(TOPICS, LABELS)
    embeddings = y.astype(np.float32) + np.random.default_rng(0).normal(0, 0.1, y.shape)
    model = HeadTopicClassifier(features=features, head=head, head_options={"n_estimators": 30, "min_child_samples": 2})
    model.fit(TEXTS, embeddings, y, LABELS)
    model.tune_thresholds(TEXTS, embeddings, y)
    summary, per_label = multilabel_scores(y, model.predict_proba(TEXTS, embeddings).to_numpy(), model.thresholds, LABELS)
    assert summary["micro_f1"] > 0.9 and len(per_label) == 3
    assert ["sport", "politics"] in model.predict(TEXTS[-1:], embeddings[-1:])


def test_tree_heads_refuse_sparse_tfidf_features():
    with pytest.raises(ValueError, match="tree heads"):
        HeadTopicClassifier(features="tfidf", head="catboost")


def test_single_label_data_also_reports_top1_accuracy():
    y = np.eye(3, dtype=int)
    summary, _ = multilabel_scores(y, np.eye(3) * 0.9, np.full(3, 0.5), LABELS)
    assert summary["top1_accuracy"] == 1.0 and summary["micro_f1"] == 1.0
