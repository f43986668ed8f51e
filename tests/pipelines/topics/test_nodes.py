import numpy as np
import pytest
import pandas as pd

from socialml.components.text.vectors import to_frame
from socialml.pipelines.topics.nodes import (
    combine_topic_models, evaluate_topic_model, prepare_topic_dataset, train_topic_model,
)

PARAMS = {"split_shares": {"train": 0.6, "validation": 0.2, "test": 0.2}, "seed": 0, "min_label_count": 5,
          "split_strata": "rarest_topic"}


def test_an_emotion_corpus_split_into_train_and_test_only_trains_with_validation_drawn_from_train():
    # Multi-label emotions as public sets ship them: train and test only, a third of the texts with no emotion.
    words = {"joy": "радость", "anger": "злость", "fear": "страх"}
    emotions = [[], ["joy"], ["anger"], ["fear"], ["joy", "fear"], []] * 50
    posts = pd.DataFrame({
        "post_id": [f"p{i}" for i in range(300)],
        "doc_text": [" ".join([words[e] for e in labels] or ["обычный день"]) + f" {i % 7}"
                     for i, labels in enumerate(emotions)],
        "image2text": "", "speech2text": "", "topics": emotions,
        "split": ["train"] * 240 + ["test"] * 60})
    dataset = prepare_topic_dataset(posts, PARAMS)
    counts = dataset["split"].value_counts()
    assert counts["test"] == 60 and abs(counts["validation"] - 60) <= 1  # a quarter of train, stratified by emotion
    assert (dataset["split"].iloc[240:] == "test").all()
    embeddings = to_frame(dataset["post_id"], np.zeros((300, 2)), "post_id")
    model = train_topic_model(dataset, embeddings, {"kind": "head", "features": "tfidf"}, PARAMS)
    scores, predicted, _ = evaluate_topic_model(model, dataset, embeddings)
    assert model.labels == ["anger", "fear", "joy"] and len(predicted) == 60
    assert scores["summary"]["micro_f1"] > 0.9


def _emotion_posts(emotions: list[list[str]], split: list[str]) -> pd.DataFrame:
    words = {"joy": "радость", "anger": "злость", "fear": "страх", "grief": "горе", "awe": "трепет"}
    return pd.DataFrame({"post_id": [f"p{i}" for i in range(len(emotions))],
                         "doc_text": [" ".join([words[e] for e in labels] or ["обычный день"]) + f" {i % 7}"
                                      for i, labels in enumerate(emotions)],
                         "image2text": "", "speech2text": "", "topics": emotions, "split": split})


def test_topics_too_rare_to_learn_are_named_and_scored_as_never_predicted(caplog):
    # grief: 3 training posts (under min_label_count 5) and 2 test posts; awe: one test post, never in training.
    emotions = [["joy"], ["anger"], ["fear"], []] * 60 + [["grief"]] * 3 + [["joy"], ["anger"], ["fear"]] * 5
    emotions += [["grief"]] * 2 + [["awe"]]
    split = ["train"] * 243 + ["test"] * 18
    posts = _emotion_posts(emotions, split)
    with caplog.at_level("WARNING", logger="socialml.pipelines.topics.nodes"):
        dataset = prepare_topic_dataset(posts, PARAMS)
    grief_in_training = int(dataset.loc[dataset["split"] == "train", "topics"].map(lambda t: "grief" in t).sum())
    assert 1 <= grief_in_training <= 3  # validation is drawn from the given training posts
    assert "2 of 5 topics occur fewer than 5 times" in caplog.text
    assert f"awe (0), grief ({grief_in_training})" in caplog.text
    embeddings = to_frame(dataset["post_id"], np.zeros((len(dataset), 2)), "post_id")
    model = train_topic_model(dataset, embeddings, {"kind": "head", "features": "tfidf"}, PARAMS)
    scores, predicted, _ = evaluate_topic_model(model, dataset, embeddings)
    assert model.labels == ["anger", "fear", "joy"]
    assert list(predicted.columns) == ["post_id", "anger", "fear", "joy", "awe", "grief", "top_topic"]
    assert predicted[["awe", "grief"]].sum().sum() == 0
    assert set(predicted["top_topic"]) <= {"anger", "fear", "joy"}  # a topic never learnt is never the top one
    rows = {row["label"]: row for row in scores["per_label"]}
    assert rows["grief"]["support"] == 2 and rows["grief"]["f1"] == 0 and np.isnan(rows["grief"]["pr_auc"])
    assert np.isnan(rows["awe"]["threshold"])
    summary = scores["summary"]
    assert summary["topics_not_learnt"] == 2
    present = [row["f1"] for row in rows.values() if row["support"]]
    assert len(present) == 5 and summary["macro_f1"] == pytest.approx(np.mean(present))
    assert summary["macro_f1"] < 0.65  # two of five topics score 0, however well the three learnt ones do


def test_a_single_label_corpus_with_a_rare_class_keeps_its_top_topic_scores_and_counts_that_class_as_missed():
    emotions = [["joy"], ["anger"], ["fear"]] * 80 + [["grief"]] * 2 + [["joy"], ["anger"], ["fear"]] * 10 + [["grief"]]
    posts = _emotion_posts(emotions, ["train"] * 242 + ["test"] * 31)
    dataset = prepare_topic_dataset(posts, PARAMS)
    embeddings = to_frame(dataset["post_id"], np.zeros((len(dataset), 2)), "post_id")
    model = train_topic_model(dataset, embeddings, {"kind": "head", "features": "tfidf"}, PARAMS)
    summary = evaluate_topic_model(model, dataset, embeddings)[0]["summary"]
    assert summary["top1_accuracy"] == pytest.approx(30 / 31)  # the grief post cannot be right
    # grief scores 0 and the class its post went to loses a little precision (20 / 21 F1)
    assert summary["top1_macro_f1"] == pytest.approx((1 + 1 + 20 / 21 + 0) / 4)


def test_posts_without_text_are_left_out_and_counted(caplog):
    posts = _emotion_posts([["joy"], ["anger"], []] * 20, [None] * 60)  # a random split
    posts.loc[[0, 2], "doc_text"] = ""  # an image post without a caption, with and without a topic
    with caplog.at_level("INFO", logger="socialml.pipelines.topics.nodes"):
        dataset = prepare_topic_dataset(posts, PARAMS)
    assert len(dataset) == 58 and not dataset["post_id"].isin(["p0", "p2"]).any()
    assert "2 of 60 posts have no text in any field and are left out (1 of them with topics)" in caplog.text


def test_a_random_split_shares_out_each_topic_by_the_rarest_topic_of_each_post():
    # awe: 10 posts, each also carrying joy; an unstratified 60/20/20 draw leaves it out of test 1 time in 9.
    emotions = [["joy"], ["anger"], ["fear"], []] * 100 + [["joy", "awe"]] * 10
    dataset = prepare_topic_dataset(_emotion_posts(emotions, [None] * 410), PARAMS)
    awe = dataset.loc[dataset["topics"].map(lambda labels: "awe" in labels), "split"].value_counts()
    assert abs(awe["train"] - 6) <= 1 and abs(awe["validation"] - 2) <= 1 and abs(awe["test"] - 2) <= 1
    for topic in ["anger", "fear"]:
        counts = dataset.loc[dataset["topics"].map(lambda labels: topic in labels), "split"].value_counts()
        assert abs(counts["test"] - 20) <= 2 and abs(counts["train"] - 60) <= 2
    unset = {key: value for key, value in PARAMS.items() if key != "split_strata"}  # a configuration from before
    assert (prepare_topic_dataset(_emotion_posts(emotions, [None] * 410), unset)["split"] == dataset["split"]).all()
    unstratified = prepare_topic_dataset(_emotion_posts(emotions, [None] * 410), {**PARAMS, "split_strata": "none"})
    assert (unstratified["split"] != dataset["split"]).any()  # the independent draws of before
    with pytest.raises(ValueError, match="topics.split_strata must be one of rarest_topic, none; got 'topic'"):
        prepare_topic_dataset(_emotion_posts(emotions, [None] * 410), {**PARAMS, "split_strata": "topic"})


@pytest.mark.parametrize("rows", [0, 3])  # a header-only table; posts whose every field is empty
def test_a_table_without_any_text_stops_naming_it(rows):
    posts = _emotion_posts([["joy"]] * rows, [None] * rows)
    posts["doc_text"] = ""
    with pytest.raises(ValueError, match=f"posts: none of the {rows} posts has text in any field"):
        prepare_topic_dataset(posts, PARAMS)


def test_a_corpus_where_no_topic_is_common_enough_to_learn_stops_naming_the_setting():
    posts = _emotion_posts([["joy"], ["anger"], ["fear"], ["grief"]] + [[]] * 20, ["train"] * 20 + ["test"] * 4)
    with pytest.raises(ValueError, match=r"posts: no topic occurs 5 times .*topics.min_label_count"):
        prepare_topic_dataset(posts, PARAMS)


def test_a_model_with_threshold_folds_tunes_a_topic_absent_from_validation_on_the_training_posts():
    # awe: 8 training posts and 2 test posts, none in validation; its cut comes from the training posts'
    # out-of-fold probabilities where the model asks for them, and stays at 0.5 where it does not.
    emotions = [["joy"], ["anger"], ["fear"], []] * 30 + [["awe"]] * 8 + [["joy"], ["anger"], ["fear"], []] * 10
    emotions += [["awe"]] * 2
    split = ["train"] * 128 + ["validation"] * 40 + ["test"] * 2
    dataset = prepare_topic_dataset(_emotion_posts(emotions, split), PARAMS)
    embeddings = to_frame(dataset["post_id"], np.zeros((len(dataset), 2)), "post_id")
    spec = {"kind": "head", "features": "tfidf"}
    plain = train_topic_model(dataset, embeddings, spec, PARAMS)
    folded = train_topic_model(dataset, embeddings, {**spec, "threshold_folds": 4}, PARAMS)
    awe = plain.labels.index("awe")
    assert plain.thresholds[awe] == 0.5 and folded.thresholds[awe] != 0.5
    assert np.array_equal(plain.predict_proba(["трепет"]).to_numpy(), folded.predict_proba(["трепет"]).to_numpy())
    assert evaluate_topic_model(folded, dataset, embeddings)[0]["summary"]["threshold_folds"] == 4


def test_models_refitted_with_validation_keep_the_cuts_of_the_model_before_and_so_do_their_ensemble():
    # Validation's posts name their emotion with a word of their own ("ярость" for anger): only a model
    # refitted with them knows it; cuts, and the ensemble's cuts tuned on its members, are those of before.
    emotions = [["joy"], ["anger"], ["fear"], []] * 40
    split = ["train"] * 80 + ["validation"] * 40 + ["test"] * 40
    posts = _emotion_posts(emotions, split)
    validation = posts["split"] == "validation"
    posts.loc[validation, "doc_text"] = posts.loc[validation, "doc_text"].str.replace("злость", "ярость")
    dataset = prepare_topic_dataset(posts, PARAMS)
    embeddings = to_frame(dataset["post_id"], np.zeros((len(dataset), 2)), "post_id")
    spec = {"kind": "head", "features": "tfidf"}
    trained = {refit: {name: train_topic_model(dataset, embeddings, {**spec, "c": c, "refit_with_validation": refit},
                                               {**PARAMS, "threshold_shrinkage": 0.0})
                       for name, c in (("weak", 0.1), ("strong", 4.0))} for refit in (False, True)}
    anger = trained[True]["strong"].labels.index("anger")
    assert trained[True]["strong"].predict_proba(["ярость"]).iloc[0, anger] > trained[False]["strong"].predict_proba(
        ["ярость"]).iloc[0, anger] + 0.1
    np.testing.assert_array_equal(trained[True]["strong"].thresholds, trained[False]["strong"].thresholds)
    ensemble = {"kind": "ensemble", "of_models": ["weak", "strong"]}
    combined = {refit: combine_topic_models(dataset, embeddings, ensemble, PARAMS,
                                            **{f"trained_{name}": m for name, m in models.items()})
                for refit, models in trained.items()}
    np.testing.assert_array_equal(combined[True].thresholds, combined[False].thresholds)
    assert evaluate_topic_model(trained[True]["strong"], dataset, embeddings)[0]["summary"]["refit_with_validation"]
    assert not evaluate_topic_model(combined[True], dataset, embeddings)[0]["summary"]["refit_with_validation"]
