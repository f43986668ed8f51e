import numpy as np
import pandas as pd
import pytest

from socialml.components.text.sentiment import (
    BlendedSentiment, DeniedTroubleSentiment, EmojiSentiment, FineTunedSentiment, QuestionFrame, SentimentHead,
    ZeroShotSentiment, negated_clause, predict_labels,
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


def test_zero_shot_by_nearest_anchors_reads_a_class_from_the_anchor_nearest_a_text_not_their_blurred_mean():
    # Praise in two domains (e1, e2); neutral anchors between them. The praise anchors' mean lies between
    # them too, so a text on e1 reads neutral by the means; by its nearest anchor, praise.
    between = np.array([[0.8, 0.6, 0.0]])
    anchors = {"positive": np.array([[1.0, 0, 0], [0, 1.0, 0]]), "neutral": np.vstack([between, between]),
               "negative": np.array([[0, 0, 1.0], [0, 0, 1.0]])}
    text = np.array([[1.0, 0.0, 0.0]])
    by_means = ZeroShotSentiment(anchors, temperature=0.1).predict_proba(["x"], text)
    by_nearest = ZeroShotSentiment(anchors, temperature=0.1, nearest_anchors=1).predict_proba(["x"], text)
    by_two = ZeroShotSentiment(anchors, temperature=0.1, nearest_anchors=2).predict_proba(["x"], text)
    assert predict_labels(by_means).tolist() == ["neutral"] and predict_labels(by_two).tolist() == ["neutral"]
    assert predict_labels(by_nearest).tolist() == ["positive"]
    assert by_nearest.loc[0, "positive"] == pytest.approx(np.exp(10) / (np.exp(10) + np.exp(8) + 1))
    # A model pickled before the option existed has no such attribute: it reads by the means, as it did.
    old = ZeroShotSentiment(anchors, temperature=0.1)
    del old.__dict__["nearest_anchors"]
    pd.testing.assert_frame_equal(old.predict_proba(["x"], text), by_means)
    for nearest in (0, 3, 1.0, True):
        with pytest.raises(ValueError, match=f"zero_shot_nearest_anchors must be null or a whole number from 1 to 2 .*"
                                             f"got {nearest!r}"):
            ZeroShotSentiment(anchors, nearest_anchors=nearest)


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


@pytest.mark.parametrize(("answer", "clause"), [
    ("ничего не мешает", "мешает"), ("Никто не мешает!", "мешает"), ("пока ничего не мешает 👍", "мешает"),
    ("вообще ничего не нравится", "нравится"), ("не устраивает зарплата", "устраивает зарплата"),
    ("никаких помех", "помех"), ("нет проблем", "проблем"), ("претензий нет", "претензий"),
    ("никаких проблем нет.", "проблем"), ("без замечаний", "замечаний"), ("не знаю", "знаю"),
    # A typo in a long negator ("никаих", "ничео", "нчего"); a real word one letter from one is not mended.
    ("никаих помех", "помех"), ("ничео не мешает", "мешает"), ("нчего не мешает", "мешает"),
    ("никаким помехам", None),
    # What works, then the trouble it is without; not when the words before "без" negate or join clauses.
    ("работает без сбоев", "сбоев"), ("всё прошло без проблем!", "проблем"),
    ("доставили вовремя без задержек", "задержек"), ("не работает без перезагрузки", None),
    ("работает, но без звука", None), ("работает без ошибок и без зависаний", None),
    ("работает быстро и почти всегда без ошибок", None), ("Работает БЕЗ сбоев!!! 👍", "сбоев"),
    ("работает без сбоев, но медленно", None),
    # Not one negated clause: two clauses, a double negation, no negator, too long, the negator alone.
    ("не мешает, но шумно", None), ("не мешает но шумно", None), ("нет ничего не мешает", None),
    ("мешают коллеги", None), ("ничего", None), ("нет", None), ("нет.", None),
    ("не хватает времени на обучение новых сотрудников отдела", None), ("nothing bothers me", None),
])
def test_a_negated_clause_is_found_only_in_a_short_answer_of_one_clause(answer, clause):
    assert negated_clause(answer, max_words=5) == clause


class KeywordSentiment:
    """Reads a text as the first keyword it holds says: a negated answer read like its clause, as sentence
    embeddings read "ничего не мешает" beside "мешают коллеги"."""

    embeddings_from = None
    KEYWORDS = {"мешает": "negative", "проблем": "negative", "претензий": "neutral", "нравится": "positive"}

    def predict_proba(self, texts, embeddings) -> pd.DataFrame:
        rows = []
        for text in texts:
            sentiment = next((s for word, s in self.KEYWORDS.items() if word in text), "neutral")
            rows.append({s: 0.8 if s == sentiment else 0.1 for s in ("positive", "neutral", "negative")})
        return pd.DataFrame(rows, index=range(100, 100 + len(rows)))  # an index of its own: rows go by position


def test_an_answer_that_denies_a_trouble_is_read_as_praise():
    texts = ["ничего не мешает", "мешает шум", "никаких проблем нет!", "ничего не нравится", "не мешает, но шумно",
             "претензий нет", "проблемы с доступом", "ничего не мешаает", "ничего не смешает"]
    model = DeniedTroubleSentiment(KeywordSentiment(), words=["мешать", "Проблема", "претензия"], max_words=5)
    read = model.predict_proba(texts, None)
    # A typo of a form counts ("мешаает"); a real word one letter from a form does not ("смешает").
    assert model.denies_trouble(texts).tolist() == [True, False, True, False, False, True, False, True, False]
    assert read.idxmax(axis=1).tolist() == ["positive", "negative", "positive", "positive", "negative", "positive",
                                            "negative", "positive", "negative"]
    assert read.loc[0].to_dict() == {"positive": 1.0, "neutral": 0.0, "negative": 0.0}
    assert read.loc[1].to_dict() == pytest.approx({"positive": 0.1, "neutral": 0.1, "negative": 0.8})
    # Without words of trouble the model's reading stands; "ничего не нравится" is the model's to read.
    off = DeniedTroubleSentiment(KeywordSentiment(), words=[]).predict_proba(texts, None)
    assert off.idxmax(axis=1).tolist() == ["negative", "negative", "negative", "positive", "negative", "neutral",
                                           "negative", "neutral", "negative"]
    assert model.predict_proba([], None).empty and not model.denies_trouble(["", "👍", "нет"]).any()
    with pytest.raises(ValueError, match="max_words"):
        DeniedTroubleSentiment(KeywordSentiment(), words=["мешать"], max_words=0)
    with pytest.raises(TypeError, match="wordz"):
        DeniedTroubleSentiment(KeywordSentiment(), **{"wordz": ["мешать"]})


def test_an_answers_emoji_move_its_neutral_probability_to_their_side():
    texts = ["👍🏽", "😡😡👍", "😡👍", "ипотека ❤️", "нравится 👎", "🤔", "очереди 😩", "", "нравится"]
    model = EmojiSentiment(KeywordSentiment(), positive=["👍", "❤️"], negative=["😡", "👎", "😩"], weight=0.5)
    assert model.polarity(texts).tolist() == [1, -1, 0, 1, -1, 0, -1, 0, 0]
    read = model.predict_proba(texts, None)
    # Emoji alone: all of the neutral probability moves (a skin tone or a variation selector is the same emoji).
    assert read.loc[0].to_dict() == pytest.approx({"positive": 0.9, "neutral": 0.0, "negative": 0.1})
    assert read.loc[1].to_dict() == pytest.approx({"positive": 0.1, "neutral": 0.0, "negative": 0.9})
    assert read.loc[2].to_dict() == pytest.approx({"positive": 0.1, "neutral": 0.8, "negative": 0.1})  # a tie
    # Beside words, half of it: a neutral noun turns, words of their own sentiment keep it.
    assert read.loc[3].to_dict() == pytest.approx({"positive": 0.5, "neutral": 0.4, "negative": 0.1})
    assert read.idxmax(axis=1).tolist() == ["positive", "negative", "neutral", "positive", "positive", "neutral",
                                            "negative", "neutral", "positive"]
    assert np.allclose(read.sum(axis=1), 1.0)
    off = EmojiSentiment(KeywordSentiment()).predict_proba(texts, None)
    assert off.idxmax(axis=1).tolist() == KeywordSentiment().predict_proba(texts, None).idxmax(axis=1).tolist()
    with pytest.raises(ValueError, match=r"both positive and negative: \['👍'\]"):
        EmojiSentiment(KeywordSentiment(), positive=["👍"], negative=["👍🏻"])
    with pytest.raises(ValueError, match="weight"):
        EmojiSentiment(KeywordSentiment(), weight=1.5)
    with pytest.raises(ValueError, match="lists of emoji"):
        EmojiSentiment(KeywordSentiment(), positive="👍🔥")
    with pytest.raises(ValueError, match="empty entry"):
        EmojiSentiment(KeywordSentiment(), positive=["\ufe0f"])


def _question_frame(weight: float = 0.75) -> QuestionFrame:
    # Questions asking for the good lie along the first axis, for the bad along the third, the others the second.
    reader = ZeroShotSentiment({s: np.eye(3)[[i]] for i, s in enumerate(["positive", "neutral", "negative"])},
                               temperature=0.01)
    return QuestionFrame(reader, weight, nothing_words=["ничего", "нет", "никаких"], filler_words=["да", "пожалуй"])


def test_a_question_reads_as_asking_for_the_good_the_bad_or_neither():
    asks = _question_frame().predict_proba(["нравится?", "откуда вы?", "мешает?"], np.eye(3))
    assert predict_labels(asks).tolist() == ["positive", "neutral", "negative"]


ANSWERS = ["бюрократия", "всё отлично", "да ничего", "ничего не мешает", "никаких, пожалуй"]
OWN = pd.DataFrame({"positive": [0.1, 0.8, 0.1, 0.9, 0.1], "neutral": [0.8, 0.15, 0.8, 0.05, 0.8],
                    "negative": [0.1, 0.05, 0.1, 0.05, 0.1]})


@pytest.mark.parametrize("asks_for, expected", [
    # A neutral answer takes its question's side; one with a sentiment of its own keeps it; "nothing" (not
    # "ничего не мешает", a clause of its own) says the opposite of what was asked.
    ("negative", ["negative", "positive", "positive", "positive", "positive"]),
    ("positive", ["positive", "positive", "negative", "positive", "negative"]),
    ("neutral", ["neutral", "positive", "neutral", "positive", "neutral"]),
])
def test_an_answer_is_read_in_the_light_of_what_its_question_asks_for(asks_for, expected):
    asks = pd.DataFrame({s: [float(s == asks_for)] for s in ("positive", "neutral", "negative")}, index=["q"])
    framed = _question_frame().apply(ANSWERS, OWN, ["q"] * len(ANSWERS), asks)
    assert predict_labels(framed).tolist() == expected
    assert np.allclose(framed.sum(axis=1), 1)


def test_answers_to_several_questions_are_each_read_in_their_own_questions_light():
    asks = pd.DataFrame({"positive": [1.0, 0.0], "neutral": [0.0, 0.0], "negative": [0.0, 1.0]}, index=[7, 3])
    framed = _question_frame().apply(["бюрократия", "бюрократия", "да ничего"], OWN.iloc[[0, 0, 2]], [7, 3, 3], asks)
    assert predict_labels(framed).tolist() == ["positive", "negative", "positive"]


def test_weight_zero_leaves_the_answers_own_reading_and_a_weight_outside_zero_to_one_is_refused():
    asks = pd.DataFrame({"positive": [0.0], "neutral": [0.0], "negative": [1.0]}, index=["q"])
    framed = _question_frame(0.0).apply(ANSWERS, OWN, ["q"] * len(ANSWERS), asks)
    assert np.allclose(framed.to_numpy(), OWN.to_numpy())
    for weight in (1.5, -0.1, "auto", True):
        with pytest.raises(ValueError, match=f"question_frame.weight must be a number between 0 and 1, got {weight!r}"):
            _question_frame(weight)
