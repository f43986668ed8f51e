import logging
import pickle
import warnings

import numpy as np
import pytest
import torch
from transformers import AutoModel

from socialml.components.evaluation.metrics import multilabel_scores
from socialml.components.text.topics import (
    EnsembleTopicClassifier,
    FineTunedTopicClassifier,
    HeadTopicClassifier,
    MlpTopicClassifier,
    SHRINKAGE_CANDIDATES,
    THRESHOLD_GRID,
    best_thresholds,
    build_topic_classifier,
    cross_validated_shrinkage,
    label_matrix,
    out_of_fold_probabilities,
)

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


def test_thresholds_match_sklearn_f1_and_shrink_toward_one_common_cut():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    y = rng.random((200, 4)) < [0.5, 0.2, 0.05, 0.0]
    probabilities = np.clip(y * 0.3 + rng.random((200, 4)) * 0.7, 0, 1)
    per_label = best_thresholds(y, probabilities)
    for j in range(3):
        scores = [f1_score(y[:, j], probabilities[:, j] >= t, zero_division=0) for t in THRESHOLD_GRID]
        assert per_label[j] == THRESHOLD_GRID[int(np.argmax(scores))]
    assert per_label[3] == 0.5  # a label absent from validation keeps the middle
    common = best_thresholds(y, probabilities, shrinkage=1.0)
    assert len(set(common)) == 1 and common[0] in THRESHOLD_GRID
    np.testing.assert_allclose(best_thresholds(y, probabilities, 0.25), 0.75 * per_label + 0.25 * common)
    # Without any positive in validation there is no cut to learn: the middle, however far it is shrunk.
    assert (best_thresholds(np.zeros((0, 2)), np.zeros((0, 2)), 1.0) == 0.5).all()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        best_thresholds(y, probabilities, 1.5)


def test_cross_validation_shrinks_the_thresholds_of_labels_too_rare_to_tune():
    rng = np.random.default_rng(0)
    # Every label has the same signal, but most have 2-3 positives: their own cuts fit noise.
    y = rng.random((400, 12)) < np.r_[0.3, np.full(11, 0.006)]
    probabilities = np.clip(0.35 * y + 0.65 * rng.random(y.shape), 0, 1)
    assert cross_validated_shrinkage(y, probabilities) > 0
    # Labels with many positives and different best cuts are not forced onto one cut.
    frequent = rng.random((400, 3)) < 0.4
    shifted = np.clip(frequent * 0.3 + rng.random(frequent.shape) * 0.7 + [0.0, 0.2, -0.2], 0, 1)
    assert cross_validated_shrinkage(frequent, shifted) < 1
    # No validation rows: nothing to choose between, each label's own cut (0.5 here) is kept.
    assert cross_validated_shrinkage(np.zeros((0, 3), dtype=bool), np.zeros((0, 3))) == 0.0


def test_tuning_records_the_shrinkage_and_refuses_unknown_policies():
    y = label_matrix(TOPICS, LABELS)
    model = HeadTopicClassifier(features="tfidf").fit(TEXTS, None, y, LABELS)
    model.tune_thresholds(TEXTS, None, y, shrinkage="cv")
    assert model.threshold_shrinkage in SHRINKAGE_CANDIDATES
    model.tune_thresholds(TEXTS, None, y, shrinkage=0.5)
    assert model.threshold_shrinkage == 0.5
    with pytest.raises(ValueError, match="threshold shrinkage"):
        model.tune_thresholds(TEXTS, None, y, shrinkage="auto")


def test_out_of_fold_probabilities_score_each_training_text_by_a_model_that_never_saw_it():
    # Labels drawn at random for random embeddings: a model that saw a row memorises it, one that did not
    # can only guess, so in-sample probabilities separate the classes and out-of-fold ones do not.
    rng = np.random.default_rng(0)
    embeddings, y = rng.normal(size=(120, 200)), (rng.random((120, 3)) < 0.3).astype(np.int8)
    spec = {"kind": "head", "features": "embedding", "c": 100.0, "threshold_folds": 4}
    texts = [f"t{i}" for i in range(120)]
    held_out = out_of_fold_probabilities(spec, texts, embeddings, y, LABELS, None, folds=4)
    in_sample = build_topic_classifier({**spec, "threshold_folds": 0}).fit(texts, embeddings, y, LABELS)
    in_sample = in_sample.predict_proba(texts, embeddings).to_numpy()
    assert held_out.shape == y.shape
    assert in_sample[y == 1].min() > in_sample[y == 0].max()
    assert abs(held_out[y == 1].mean() - held_out[y == 0].mean()) < 0.15
    with pytest.raises(ValueError, match="threshold_folds must be 0"):
        build_topic_classifier({**spec, "threshold_folds": 1})
    with pytest.raises(ValueError, match="threshold_folds 4 needs at least 4 training texts, there are 3"):
        out_of_fold_probabilities(spec, texts[:3], embeddings[:3], y[:3], LABELS, None, folds=4)
    with pytest.raises(ValueError, match="threshold_folds"):  # too slow to refit: finetune does not take it
        build_topic_classifier({"kind": "finetune", "model": "e5_small", "threshold_folds": 5})


def test_a_label_without_validation_positives_gets_its_cut_from_the_out_of_fold_probabilities():
    y = label_matrix(TOPICS, LABELS)
    model = HeadTopicClassifier(features="tfidf").fit(TEXTS, None, y, LABELS)
    validation = (TEXTS[:20], None, y[:20])  # sport and politics only: humor has no positive to tune on
    model.tune_thresholds(*validation)
    assert model.thresholds[2] == 0.5
    out_of_fold = out_of_fold_probabilities({"kind": "head", "features": "tfidf"}, TEXTS, None, y, LABELS, None, 3)
    model.tune_thresholds(*validation, out_of_fold=(out_of_fold, y))
    humor = out_of_fold[:, 2]
    assert model.thresholds[2] != 0.5 and humor[y[:, 2] == 1].min() >= model.thresholds[2] > humor[y[:, 2] == 0].max()


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


def test_logistic_heads_fit_in_worker_processes_as_they_would_one_after_another(monkeypatch):
    import joblib

    labels = LABELS + ["science"]  # a topic no post has: a constant, not a regression
    y = label_matrix(TOPICS, labels)
    pools = []

    class RecordedParallel(joblib.Parallel):
        def __init__(self, n_jobs, **options):
            pools.append(n_jobs)
            super().__init__(n_jobs=n_jobs, **options)

    monkeypatch.setattr(joblib, "Parallel", RecordedParallel)
    monkeypatch.setattr(joblib, "cpu_count", lambda: 2)
    two_at_a_time = HeadTopicClassifier(features="tfidf").fit(TEXTS, None, y, labels)
    monkeypatch.setattr(joblib, "cpu_count", lambda: 1)
    one_by_one = HeadTopicClassifier(features="tfidf").fit(TEXTS, None, y, labels)
    assert pools == [2]  # one core: no pool at all
    assert two_at_a_time.heads[3] == one_by_one.heads[3] == 0.0
    for pooled, alone in zip(two_at_a_time.heads[:3], one_by_one.heads[:3]):
        np.testing.assert_allclose(pooled.coef_, alone.coef_)
    np.testing.assert_allclose(two_at_a_time.predict_proba(TEXTS).to_numpy(), one_by_one.predict_proba(TEXTS).to_numpy())


def test_a_head_asked_for_a_softmax_fits_one_where_posts_have_at_most_one_topic_and_binary_heads_elsewhere():
    model = build_topic_classifier({"kind": "head", "features": "tfidf", "softmax_if_single_label": True})
    model.fit(TEXTS[:30], None, label_matrix(TOPICS[:30], LABELS), LABELS)  # one topic a post
    assert model.fitted_softmax and model.heads == []
    proba = model.predict_proba(["матч гол команда", "мем кот"])
    assert list(proba.columns) == LABELS and list(proba.idxmax(axis=1)) == ["sport", "humor"]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)  # the topics compete for each post
    # four posts with no topic: a class of their own inside, left out of the output
    model.fit(TEXTS[:30] + ["обычный день"] * 4, None, label_matrix(TOPICS[:30] + [[]] * 4, LABELS), LABELS)
    assert list(model.softmax.classes_) == [0, 1, 2, 3]
    proba = model.predict_proba(["матч гол команда", "обычный день"])
    assert list(proba.columns) == LABELS and proba.iloc[0].idxmax() == "sport" and proba.iloc[1].sum() < 0.5
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(restored.predict_proba(["мем кот"]).to_numpy(), model.predict_proba(["мем кот"]).to_numpy())
    # multi-label posts (the last six carry two topics): the binary head per topic, as without the option
    model.fit(TEXTS, None, label_matrix(TOPICS, LABELS), LABELS)
    assert not model.fitted_softmax and len(model.heads) == 3
    assert ["sport", "politics"] in model.predict(TEXTS[-1:])
    # a training set of one topic has nothing to compete: its column is a constant, as a binary head's is
    model.fit(TEXTS[:10], None, label_matrix(TOPICS[:10], LABELS), LABELS)
    assert not model.fitted_softmax and model.heads[0] == 1.0
    with pytest.raises(ValueError, match="softmax_if_single_label takes the logreg head, not 'catboost'"):
        build_topic_classifier({"kind": "head", "head": "catboost", "softmax_if_single_label": True})


def test_a_head_pickled_before_the_softmax_option_existed_predicts_with_its_binary_heads():
    model = HeadTopicClassifier(features="tfidf").fit(TEXTS, None, label_matrix(TOPICS, LABELS), LABELS)
    state = pickle.loads(pickle.dumps(model)).__dict__
    for attribute in ("softmax", "softmax_if_single_label"):
        state.pop(attribute)
    old = HeadTopicClassifier.__new__(HeadTopicClassifier)
    old.__dict__.update(state)
    np.testing.assert_allclose(old.predict_proba(TEXTS[:3]).to_numpy(), model.predict_proba(TEXTS[:3]).to_numpy())


def test_tree_heads_refuse_sparse_tfidf_features():
    with pytest.raises(ValueError, match="tree heads"):
        HeadTopicClassifier(features="tfidf", head="catboost")


def test_single_label_data_also_reports_the_top_topics_accuracy_and_macro_f1():
    y = np.eye(3, dtype=int)
    summary, _ = multilabel_scores(y, np.eye(3) * 0.9, np.full(3, 0.5), LABELS)
    assert summary["top1_accuracy"] == summary["top1_macro_f1"] == summary["micro_f1"] == 1.0
    wrong_top = np.array([[0.9, 0.1, 0.0], [0.6, 0.8, 0.0], [0.7, 0.0, 0.6]])  # the third post's top topic is wrong
    summary, _ = multilabel_scores(y, wrong_top, np.full(3, 0.5), LABELS)
    assert summary["top1_accuracy"] == pytest.approx(2 / 3)
    assert summary["top1_macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)  # first topic: 1 of 2 predicted is right
    assert "top1_macro_f1" not in multilabel_scores(np.ones((3, 3), dtype=int), wrong_top, np.full(3, 0.5), LABELS)[0]


def _noisy_embeddings(seed: int) -> tuple[np.ndarray, np.ndarray]:
    y = label_matrix(TOPICS, LABELS)
    return y, (y.astype(np.float32) + np.random.default_rng(seed).normal(0, 0.3, y.shape)).astype(np.float32)


def test_mlp_learns_labels_jointly_keeps_its_best_epoch_and_pickles():
    y, embeddings = _noisy_embeddings(0)
    _, validation_embeddings = _noisy_embeddings(1)
    model = MlpTopicClassifier(hidden=16, epochs=60, learning_rate=0.01, batch_size=8, seeds=2, patience=5)
    model.fit(TEXTS, embeddings, y, LABELS, validation=(TEXTS, validation_embeddings, y))
    model.tune_thresholds(TEXTS, validation_embeddings, y)
    summary, _ = multilabel_scores(y, model.predict_proba(TEXTS, validation_embeddings).to_numpy(),
                                   model.thresholds, LABELS)
    assert summary["micro_f1"] > 0.9 and len(model.networks) == 2
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(restored.predict_proba(TEXTS, embeddings), model.predict_proba(TEXTS, embeddings))
    with pytest.raises(ValueError, match="embeddings"):
        model.predict_proba(TEXTS, None)


def test_mlp_reads_read_only_arrays_as_pandas_hands_them_out_without_a_warning():
    y, embeddings = _noisy_embeddings(0)
    embeddings.setflags(write=False)
    y.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch.from_numpy warns on a read-only array
        model = MlpTopicClassifier(hidden=8, epochs=2, seeds=1).fit(TEXTS, embeddings, y, LABELS)
        assert model.predict_proba(TEXTS, embeddings).shape == (len(TEXTS), 3)


def test_mlp_trains_every_epoch_when_validation_cannot_rank_them():
    y, embeddings = _noisy_embeddings(0)
    empty = (TEXTS[:0], embeddings[:0], y[:0])
    options = {"hidden": 16, "epochs": 40, "learning_rate": 0.01, "batch_size": 8, "seeds": 1, "patience": 0}
    with_empty = MlpTopicClassifier(**options).fit(TEXTS, embeddings, y, LABELS, validation=empty)
    without = MlpTopicClassifier(**options).fit(TEXTS, embeddings, y, LABELS)
    np.testing.assert_allclose(with_empty.predict_proba(TEXTS, embeddings), without.predict_proba(TEXTS, embeddings))
    assert with_empty.predict_proba(TEXTS[:0], embeddings[:0]).shape == (0, 3)


def _narrow_groups_beside_wide_noise(seed: int, n: int = 180) -> tuple[np.ndarray, np.ndarray]:
    """Labels held by a narrow encoder's vectors (a cone around one direction, as e5's) beside a wide encoder's
    that carry none (spread over the sphere), each unit norm as the project's concat encoder joins them."""
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 3, n)
    narrow = np.full(16, 3.0) + 0.05 * np.random.default_rng(99).normal(size=(3, 16))[groups] \
        + 0.03 * rng.normal(size=(n, 16))
    wide = rng.normal(size=(n, 16))
    x = np.hstack([narrow / np.linalg.norm(narrow, axis=1, keepdims=True),
                   wide / np.linalg.norm(wide, axis=1, keepdims=True)]) / np.sqrt(2)
    return np.eye(3, dtype=np.int8)[groups], x.astype(np.float32)


@pytest.mark.parametrize("spec", [{"kind": "head", "features": "embedding"},
                                  {"kind": "head", "features": "both"},
                                  {"kind": "mlp", "hidden": 16, "epochs": 60, "learning_rate": 0.01,
                                   "batch_size": 16, "seeds": 1}])
def test_standardised_embeddings_let_a_narrow_encoders_labels_count_beside_a_wide_ones(spec):
    y, x = _narrow_groups_beside_wide_noise(0)
    y_new, x_new = _narrow_groups_beside_wide_noise(1, 60)
    texts, new_texts = ["пост"] * len(x), ["пост"] * len(x_new)
    accuracy = {}
    for standardise in (False, True):
        model = build_topic_classifier({**spec, "standardise": standardise}).fit(texts, x, y, LABELS)
        probabilities = model.predict_proba(new_texts, x_new).to_numpy()
        accuracy[standardise] = (probabilities.argmax(axis=1) == y_new.argmax(axis=1)).mean()
        # the training texts' centre and spread, not the batch's own: one post alone reads as in a batch
        np.testing.assert_allclose(model.predict_proba(new_texts[:1], x_new[:1]).to_numpy(), probabilities[:1],
                                   rtol=1e-5, atol=1e-6)
    assert accuracy[True] > 0.95 and accuracy[False] < 0.6, accuracy


def test_a_topic_model_pickled_before_standardising_existed_reads_embeddings_as_they_are():
    y, embeddings = _noisy_embeddings(0)
    model = MlpTopicClassifier(hidden=8, epochs=3, seeds=1).fit(TEXTS, embeddings, y, LABELS)
    state = pickle.loads(pickle.dumps(model)).__dict__
    del state["standardiser"], state["standardise"]
    legacy = MlpTopicClassifier.__new__(MlpTopicClassifier)
    legacy.__dict__.update(state)
    np.testing.assert_allclose(legacy.predict_proba(TEXTS, embeddings), model.predict_proba(TEXTS, embeddings))


def test_standardise_is_refused_where_there_are_no_embeddings_to_standardise():
    with pytest.raises(ValueError, match="features 'tfidf' has none"):
        build_topic_classifier({"kind": "head", "features": "tfidf", "standardise": True})
    with pytest.raises(ValueError, match="option 'standardise' must be"):
        build_topic_classifier({"kind": "mlp", "standardise": "sometimes"})


def test_a_head_refitted_with_validation_learns_its_posts_and_keeps_thresholds_and_held_out_probabilities():
    y = label_matrix(TOPICS, LABELS)
    train, validation = (TEXTS[:30], None, y[:30]), (TEXTS[30:], None, y[30:])
    model = build_topic_classifier({"kind": "head", "features": "tfidf", "refit_with_validation": True})
    model.fit(*train, LABELS)
    model.tune_thresholds(*validation, shrinkage=0.5)
    thresholds, before = model.thresholds.copy(), model.predict_proba(validation[0]).to_numpy()
    model.refit(train, validation)
    np.testing.assert_array_equal(model.thresholds, thresholds)
    assert model.threshold_shrinkage == 0.5
    # The bigram "матч выборы" occurs in validation's posts only: the refitted TF-IDF knows it.
    assert "матч выборы" in model.tfidf.transformer_list[0][1].vocabulary_
    after = model.predict_proba(validation[0]).to_numpy()
    assert not np.allclose(after, before)
    np.testing.assert_allclose(model.held_out_proba(validation[0]).to_numpy(), before)
    np.testing.assert_allclose(model.held_out_proba(TEXTS[:3]).to_numpy(), model.predict_proba(TEXTS[:3]).to_numpy())
    restored = pickle.loads(pickle.dumps(model))  # the held-out probabilities travel with the model
    np.testing.assert_allclose(restored.held_out_proba(validation[0]).to_numpy(), before)


def test_an_mlp_refitted_with_validation_trains_each_seed_for_its_best_epoch_count():
    y, embeddings = _noisy_embeddings(0)
    _, validation_embeddings = _noisy_embeddings(1)
    options = {"hidden": 16, "epochs": 60, "learning_rate": 0.01, "batch_size": 8, "seeds": 2, "patience": 3}
    model = MlpTopicClassifier(**options, refit_with_validation=True)
    model.fit(TEXTS, embeddings, y, LABELS, validation=(TEXTS, validation_embeddings, y))
    assert len(model.best_epochs) == 2 and all(1 <= epochs < 60 for epochs in model.best_epochs)
    model.refit((TEXTS, embeddings, y), (TEXTS[::-1], validation_embeddings[::-1], y[::-1]))
    # Each seed's network is the one trained without validation for that seed's best epoch count.
    both = (np.vstack([embeddings, validation_embeddings[::-1]]), np.vstack([y, y[::-1]]))
    for k, epochs in enumerate(model.best_epochs):
        alone = MlpTopicClassifier(**{**options, "epochs": epochs, "seeds": 1, "seed": k})
        alone.fit([*TEXTS, *TEXTS], both[0], both[1], LABELS)
        np.testing.assert_allclose(MlpTopicClassifier._probabilities([model.networks[k]], embeddings),
                                   alone.predict_proba(TEXTS, embeddings).to_numpy(), atol=1e-6)


def test_refitting_with_validation_is_an_option_of_heads_and_mlps_only():
    with pytest.raises(ValueError, match="refit_with_validation"):
        build_topic_classifier({"kind": "finetune", "model": "e5_small", "refit_with_validation": True})
    with pytest.raises(ValueError, match="refit_with_validation"):
        build_topic_classifier({"kind": "ensemble", "of_models": ["a"], "refit_with_validation": True})


def test_an_ensemble_of_refitted_members_tunes_on_their_probabilities_from_before_the_refit():
    y = label_matrix(TOPICS, LABELS)
    train, validation = (TEXTS[:30], None, y[:30]), (TEXTS[30:], None, y[30:])
    members = {}
    for name, c in (("weak", 0.05), ("strong", 4.0)):
        members[name] = HeadTopicClassifier(features="tfidf", c=c, refit_with_validation=True).fit(*train, LABELS)
        members[name].tune_thresholds(*validation)
    before = {name: m.predict_proba(validation[0]).to_numpy() for name, m in members.items()}
    for member in members.values():
        member.refit(train, validation)
    ensemble = build_topic_classifier({"kind": "ensemble", "of_models": ["weak", "strong"]}).use_trained(members)
    np.testing.assert_allclose(ensemble.held_out_proba(validation[0]).to_numpy(), (before["weak"] + before["strong"]) / 2)
    ensemble.tune_thresholds(*validation)
    np.testing.assert_array_equal(ensemble.thresholds, best_thresholds(validation[2], (before["weak"] + before["strong"]) / 2))


def test_ensemble_is_the_weighted_mean_of_its_members():
    y, embeddings = _noisy_embeddings(0)
    model = build_topic_classifier({"kind": "ensemble", "weights": {"words": 3, "network": 1}, "members": {
        "words": {"kind": "head", "features": "tfidf"}, "network": {"kind": "mlp", "hidden": 8, "epochs": 20}}})
    assert model.needs_embeddings and model.weights == {"words": 0.75, "network": 0.25}
    model.fit(TEXTS, embeddings, y, LABELS)
    members = model.members
    expected = (0.75 * members["words"].predict_proba(TEXTS, embeddings)
                + 0.25 * members["network"].predict_proba(TEXTS, embeddings))
    np.testing.assert_allclose(model.predict_proba(TEXTS, embeddings), expected)
    assert not build_topic_classifier({"kind": "ensemble", "members": {
        "words": {"kind": "head", "features": "tfidf"}}}).needs_embeddings


@pytest.mark.parametrize("spec,message", [
    ({"members": {}}, "needs members"),
    ({"members": {"a": {"kind": "mlp"}}, "of_models": ["b"]}, "one of the two"),
    ({"members": None, "of_models": ["a"], "weights": {"b": 1.0}}, "one per member"),
    ({"members": {"a": {"kind": "ensemble", "members": {"b": {"kind": "mlp"}}}}}, "cannot be ensembles"),
    ({"members": {"a": {"kind": "mlp"}}, "weights": {"b": 1.0}}, "one per member"),
    ({"members": {"a": {"kind": "mlp"}}, "weights": {"a": -1.0}}, "non-negative"),
    ({"members": {"a": {"kind": "mlp", "hidden_units": 3}}}, "hidden_units"),
])
def test_ensemble_refuses_bad_parameters_before_training(spec, message):
    with pytest.raises(ValueError, match=message):
        build_topic_classifier({"kind": "ensemble", **spec})


def test_fine_tuning_the_top_layers_learns_topics_leaves_the_rest_and_matches_the_whole_encoder():
    y = label_matrix(TOPICS, LABELS)
    model = build_topic_classifier({"kind": "finetune", "model": "e5_small", "trainable_layers": 2, "epochs": 8,
                                    "learning_rate": 1e-3, "batch_size": 8, "max_length": 16, "num_threads": 2})
    model.fit(TEXTS, None, y, LABELS)
    pretrained, trained = AutoModel.from_pretrained(model.model_name).state_dict(), model.encoder.state_dict()
    changed = {name for name in trained if not torch.equal(trained[name], pretrained[name])}
    assert changed and all(name.startswith(("encoder.layer.10.", "encoder.layer.11.")) for name in changed)
    model.tune_thresholds(TEXTS, None, y)
    summary, _ = multilabel_scores(y, model.predict_proba(TEXTS).to_numpy(), model.thresholds, LABELS)
    assert summary["micro_f1"] > 0.9
    # Training reads the frozen layers' output from a cache; serving runs the whole encoder: the same logits.
    rows = np.arange(len(TEXTS))
    with torch.inference_mode():
        cached = model._batch_logits(TEXTS, [None] * len(TEXTS), rows)
        whole = model._batch_logits(TEXTS, None, rows)
    torch.testing.assert_close(cached, whole, atol=1e-3, rtol=1e-3)
    # The pickle keeps the two trained layers only (the whole encoder is about 470 MB) and rebuilds the rest.
    pickled = pickle.dumps(model)
    assert len(pickled) < 60e6
    restored = pickle.loads(pickled)
    np.testing.assert_allclose(restored.predict_proba(TEXTS[::7]), model.predict_proba(TEXTS[::7]), atol=1e-6)
    state = model.__getstate__()
    state["base_checksum"] += 1.0  # as if another e5 were installed here than the one it was trained on
    with pytest.raises(ValueError, match="trained on another 'e5_small'"):
        FineTunedTopicClassifier.__new__(FineTunedTopicClassifier).__setstate__(state)


def test_fine_tuning_stopped_after_a_batch_runs_the_frozen_layers_over_that_batch_only(monkeypatch):
    model = build_topic_classifier({"kind": "finetune", "model": "e5_small", "trainable_layers": 2, "epochs": 3,
                                    "batch_size": 4, "max_length": 16, "max_train_steps": 1, "num_threads": 2})
    tokenised: list[str] = []
    original = FineTunedTopicClassifier._tokenised

    def counting(self, texts):
        tokenised.extend(texts)
        return original(self, texts)

    monkeypatch.setattr(FineTunedTopicClassifier, "_tokenised", counting)
    model.fit(TEXTS, None, label_matrix(TOPICS, LABELS), LABELS)
    assert model.training_record["stopped_by"] == "max_train_steps"
    assert len(tokenised) == 4 and set(tokenised) <= set(TEXTS)


@pytest.mark.parametrize("option,value", [("trainable_layers", 0), ("epochs", 0), ("max_train_minutes", 0),
                                          ("max_train_minutes", -1.0), ("max_train_minutes", float("nan"))])
def test_fine_tuning_refuses_options_that_cannot_train(option, value):
    with pytest.raises(ValueError, match=option):
        build_topic_classifier({"kind": "finetune", "model": "e5_small", "trainable_layers": 2, option: value})


@pytest.mark.parametrize("with_validation", [True, False])
def test_fine_tuning_past_its_time_limit_stops_at_the_next_batch_and_keeps_a_scored_model(with_validation, caplog):
    y = label_matrix(TOPICS, LABELS)
    validation = (TEXTS[:8], None, y[:8]) if with_validation else None
    model = build_topic_classifier({"kind": "finetune", "model": "e5_small", "trainable_layers": 2, "epochs": 5,
                                    "batch_size": 8, "max_length": 16, "num_threads": 2, "max_train_minutes": 1e-6})
    with caplog.at_level(logging.WARNING, logger="socialml.components.text.topics"):
        model.fit(TEXTS, None, y, LABELS, validation=validation)
    record = model.training_record
    assert record | {"seconds": 0, "validation_loss_by_epoch": []} == {
        "epochs_run": 1, "batches": 1, "best_epoch": 1, "stopped_by": "max_train_minutes", "seconds": 0,
        "validation_loss_by_epoch": []}
    assert len(record["validation_loss_by_epoch"]) == (1 if with_validation else 0)  # the part-epoch is scored
    assert "max_train_minutes 1e-06" in caplog.text
    assert model.predict_proba(TEXTS[:3]).shape == (3, len(LABELS))


def test_fine_tuning_stops_after_patience_epochs_without_a_better_validation_loss():
    y = label_matrix(TOPICS, LABELS)
    model = build_topic_classifier({"kind": "finetune", "model": "e5_small", "trainable_layers": 1, "epochs": 6,
                                    "learning_rate": 1e-3, "batch_size": 8, "max_length": 16, "num_threads": 2,
                                    "patience": 1})
    # Validation labels the opposite of training's: every epoch of learning makes the validation loss worse.
    model.fit(TEXTS, None, y, LABELS, validation=(TEXTS, None, 1 - y))
    record = model.training_record
    assert record | {"seconds": 0, "validation_loss_by_epoch": []} == {
        "epochs_run": 3, "batches": 15, "best_epoch": 1, "stopped_by": "patience", "seconds": 0,
        "validation_loss_by_epoch": []}
    losses = record["validation_loss_by_epoch"]
    assert len(losses) == 3 and losses[0] < losses[1] < losses[2]


def test_an_ensemble_of_trained_models_needs_them_all_with_one_label_set():
    y = label_matrix(TOPICS, LABELS)
    words = HeadTopicClassifier(features="tfidf").fit(TEXTS, None, y, LABELS)
    fewer = HeadTopicClassifier(features="tfidf").fit(TEXTS, None, y[:, :2], LABELS[:2])
    with pytest.raises(ValueError, match="use_trained, not fit"):
        build_topic_classifier({"kind": "ensemble", "of_models": ["a", "b"]}).fit(TEXTS, None, y, LABELS)
    with pytest.raises(ValueError, match="was given the trained models"):
        build_topic_classifier({"kind": "ensemble", "of_models": ["a", "b"]}).use_trained({"a": words})
    with pytest.raises(ValueError, match=r"same labels: \['b'\]"):
        build_topic_classifier({"kind": "ensemble", "of_models": ["a", "b"]}).use_trained({"a": words, "b": fewer})
