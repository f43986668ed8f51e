"""The answers' sentiment against a hand-labelled check set: complaints, praise and neutral answers in the
style of the demo platform's survey and of the real survey (written for these tests, never trained on)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import f1_score, recall_score

from socialml.components.text.encoders import trained_encoder
from socialml.components.text.preprocess import normalise
from socialml.components.text.sentiment import predict_labels
from tests.conftest import TEST_DATA
from tests.test_end_to_end import latest_version

CHECK_SET = pd.read_csv(Path(__file__).with_name("sentiment_check_set.csv"))
# Written on 2026-12-05, after the first set had been tuned on: answers about deliveries, prices, work, study,
# clinics, banks and transport, 40 of each sentiment. The first 60 showed the anchors' reach ending at the
# demo's survey (0.61 macro-F1); the zero-shot anchors were widened then, and the last 60 written after.
SECOND_CHECK_SET = pd.read_csv(Path(__file__).with_name("sentiment_second_check_set.csv"))
# Written on 2026-12-05 (night), before the anchors for trouble that happened were added, and never tuned on:
# hotels, cafés, gyms, public offices, transport, providers, parcels, courses; 30 of each sentiment, most
# of them reports of what happened ("суп принесли холодным", "мастер починил машину в тот же день").
THIRD_CHECK_SET = pd.read_csv(Path(__file__).with_name("sentiment_third_check_set.csv"))
# Written on 2026-12-05 (late night), before the anchors for feelings and qualities named by a noun were added:
# answers of a word or two, as a survey's open questions get them ("воодушевление", "выгорание", "отчёты"); 30 of
# each sentiment. The real survey's "надежда" and "гордость" had been read as complaints.
FOURTH_CHECK_SET = pd.read_csv(Path(__file__).with_name("sentiment_fourth_check_set.csv"))
# Answers whose sentiment is their question's: "бюрократия" answering "С какими трудностями вы сталкиваетесь?"
# is a complaint, "ничего" answering "Что вас мотивирует?" too. Questions worded unlike the anchor questions.
QUESTION_CHECK_SET = pd.read_csv(Path(__file__).with_name("question_sentiment_check_set.csv"))
# Written on 2026-12-06, before the emoji rule: answers of emoji alone or beside a word or two (20 of each
# sentiment; the neutral ones with emoji of no sentiment, 🤔 📅 🏢). The trained blend read 0.37 macro-F1 then
# (test configuration): "😡", "👎" and "👍" alone came out neutral.
EMOJI_CHECK_SET = pd.read_csv(Path(__file__).with_name("sentiment_emoji_check_set.csv"))
SENTIMENTS = ["negative", "neutral", "positive"]


def _newest(project: Path, model: str):
    return pickle.loads(latest_version(project / TEST_DATA / "06_models" / "demo" / model).read_bytes())


def _read(model, check_set: pd.DataFrame) -> tuple[pd.Series, float, float]:
    """The model's reading of a check set's answers, its macro-F1 and its lowest recall of a sentiment."""
    predicted = model.predict_frame(check_set[["text"]]).idxmax(axis=1)
    return (predicted, f1_score(check_set["sentiment"], predicted, average="macro"),
            min(recall_score(check_set["sentiment"], predicted, average=None, labels=SENTIMENTS)))


def test_the_check_set_is_balanced_over_sentiments_and_styles():
    counts = CHECK_SET.groupby(["sentiment", "style"]).size()
    assert len(CHECK_SET) >= 60 and CHECK_SET["text"].is_unique
    assert set(counts.index) == {(s, style) for s in SENTIMENTS for style in ("demo", "survey")}
    assert counts.min() == counts.max()


@pytest.mark.slow
def test_the_trained_answer_sentiment_judges_the_check_set_right(trained_project: Path):
    predicted, macro_f1, lowest_recall = _read(_newest(trained_project, "answer_sentiment.pkl"), CHECK_SET)
    assert macro_f1 >= 0.8 and lowest_recall >= 0.7
    # The two complaints, the demo's "все устраивает 👍" cluster, which e5 alone drew red, and two answers
    # that deny a trouble, which the embeddings put beside the trouble itself.
    for text, expected in (("приложение постоянно зависает 😡", "negative"), ("страницы открываются медленно!", "negative"),
                           ("всё устраивает 👍", "positive"), ("ничего не мешает", "positive"),
                           ("никаких проблем нет", "positive"), ("ничего не нравится", "negative")):
        assert predicted[CHECK_SET.index[CHECK_SET["text"] == text][0]] == expected, text


@pytest.mark.parametrize(("later", "per_sentiment", "earlier"), [(SECOND_CHECK_SET, 40, [CHECK_SET]),
                                                            (THIRD_CHECK_SET, 30, [CHECK_SET, SECOND_CHECK_SET]),
                                                            (FOURTH_CHECK_SET, 30, [CHECK_SET, SECOND_CHECK_SET,
                                                                                    THIRD_CHECK_SET])])
def test_each_later_check_set_is_balanced_and_repeats_no_earlier_answer(later, per_sentiment, earlier):
    assert later.groupby("sentiment").size().to_dict() == {s: per_sentiment for s in SENTIMENTS}
    assert later["text"].is_unique and not set(later["text"]) & set().union(*[set(e["text"]) for e in earlier])


@pytest.mark.slow
def test_the_trained_answer_sentiment_reads_answers_of_other_domains(trained_project: Path):
    _, macro_f1, lowest_recall = _read(_newest(trained_project, "answer_sentiment.pkl"), SECOND_CHECK_SET)
    # 0.76 macro-F1 in the test configuration (2026-12-05); the default run read it at 0.65 with five
    # anchors a sentiment.
    assert macro_f1 >= 0.7 and lowest_recall >= 0.5


@pytest.mark.slow
def test_the_trained_answer_sentiment_reads_reports_of_what_happened(trained_project: Path):
    predicted, macro_f1, lowest_recall = _read(_newest(trained_project, "answer_sentiment.pkl"), THIRD_CHECK_SET)
    # 0.74 in the test configuration (2026-12-05), complaints at 0.87 recall and praise, the lowest, at 0.43;
    # before the anchors for trouble that happened 0.64, complaints at 0.47.
    assert macro_f1 >= 0.65 and lowest_recall >= 0.35
    complaints = THIRD_CHECK_SET["sentiment"] == "negative"
    assert (predicted[complaints] == "negative").mean() >= 0.7


@pytest.mark.slow
def test_the_trained_answer_sentiment_reads_answers_of_a_word_or_two(trained_project: Path):
    predicted, macro_f1, lowest_recall = _read(_newest(trained_project, "answer_sentiment.pkl"), FOURTH_CHECK_SET)
    # 0.77 in the test configuration (2026-12-05), praise the lowest at 0.70 recall; before the anchors for
    # feelings and qualities named by a noun 0.70, praise at 0.57 ("поддержка коллег" read as a complaint).
    assert macro_f1 >= 0.74 and lowest_recall >= 0.6
    for text in ("уверенность в завтрашнем дне", "честность и открытость", "признание"):
        assert predicted[FOURTH_CHECK_SET.index[FOURTH_CHECK_SET["text"] == text][0]] == "positive", text


def test_the_emoji_check_set_is_balanced_and_repeats_no_earlier_answer():
    assert EMOJI_CHECK_SET.groupby("sentiment").size().to_dict() == {s: 20 for s in SENTIMENTS}
    earlier = set().union(*[set(s["text"]) for s in (CHECK_SET, SECOND_CHECK_SET, THIRD_CHECK_SET, FOURTH_CHECK_SET)])
    assert EMOJI_CHECK_SET["text"].is_unique and not set(EMOJI_CHECK_SET["text"]) & earlier


@pytest.mark.slow
def test_the_trained_answer_sentiment_hears_emoji(trained_project: Path):
    predicted, macro_f1, lowest_recall = _read(_newest(trained_project, "answer_sentiment.pkl"), EMOJI_CHECK_SET)
    # 0.93 in the test configuration (2026-12-06), 0.37 before the emoji rule.
    assert macro_f1 >= 0.85 and lowest_recall >= 0.75
    for text, expected in (("👎", "negative"), ("😡", "negative"), ("👍", "positive"), ("❤️", "positive"),
                           ("🤔", "neutral"), ("в офисе 🏢", "neutral")):
        assert predicted[EMOJI_CHECK_SET.index[EMOJI_CHECK_SET["text"] == text][0]] == expected, text


def test_the_question_check_set_is_balanced_and_asks_each_kind_of_question():
    assert QUESTION_CHECK_SET.groupby("sentiment").size().to_dict() == {s: 12 for s in SENTIMENTS}
    assert QUESTION_CHECK_SET["question"].nunique() >= 10


@pytest.mark.slow
def test_the_served_clusterer_reads_answers_in_the_light_of_their_question(trained_project: Path):
    clusterer = _newest(trained_project, "clustering/answer_clusterer.pkl")
    answers = QUESTION_CHECK_SET["answer"].map(normalise).tolist()
    questions = QUESTION_CHECK_SET["question"].map(normalise).tolist()
    own = clusterer.sentiment.predict_proba(answers, trained_encoder(clusterer.embeddings_from, answers)[1])
    asks = clusterer.question_frame.predict_proba(questions, trained_encoder(clusterer.question_frame.embeddings_from, questions)[1])
    framed = clusterer.question_frame.apply(answers, own, range(len(questions)), asks)
    truth = QUESTION_CHECK_SET["sentiment"]
    unframed_f1 = f1_score(truth, predict_labels(own), average="macro")
    framed_f1 = f1_score(truth, predict_labels(framed), average="macro")
    # Read alone, most of these answers are neutral: 0.35 macro-F1, 0.69 framed (test configuration, 2026-12-05).
    assert framed_f1 >= 0.65 and framed_f1 >= unframed_f1 + 0.25, (framed_f1, unframed_f1)
