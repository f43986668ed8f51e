"""Sentiment (positive / neutral / negative) of short texts.

``SentimentHead`` is trained where labels exist: logistic regression over the sentence embedding
joined with character n-gram TF-IDF (frozen embeddings alone lose to TF-IDF on sentiment, the two
together win). ``FineTunedSentiment`` fine-tunes a transformer on the texts instead. ``ZeroShotSentiment``
needs no labels: softmax over cosine similarities to anchor phrases of each class. All answer
``predict_proba(texts, embeddings)`` with one column per class, and keep ``embeddings_from``, the record of
the encoder whose vectors they were made from (``encoders.encoder_record``); ``predict_frame`` embeds raw
texts with that encoder (the face MLflow serves). ``DeniedTroubleSentiment`` wraps any of them so that an
answer denying a trouble ("ничего не мешает") is not read as a complaint, and ``EmojiSentiment`` so that its
emoji are heard ("👎", "ипотека 😄").
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from socialml.components.core.errors import DataStop, SettingsError
from socialml.components.data.canonical import SENTIMENTS
from socialml.components.text.encoders import trained_encoder
from socialml.components.text.preprocess import is_known_word, normalise, word_forms

# Every chart colours sentiment this way: praise green, neutral grey, complaints red.
SENTIMENT_COLOURS = {"positive": "#2ca02c", "neutral": "#9e9e9e", "negative": "#d62728"}


class _RawTextPredictor:
    """``predict_frame`` over raw texts for a model with ``predict_proba(texts, embeddings)``."""

    embeddings_from: dict[str, Any] | None

    def example_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"text": ["Всё работает отлично, спасибо!"]})

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Class probabilities of ``frame["text"]``, embedded with the encoder the model was trained on."""
        texts = [normalise(t) for t in frame["text"].fillna("")]
        embeddings = trained_encoder(self.embeddings_from, texts)[1] if self.embeddings_from else None
        return self.predict_proba(texts, embeddings)


class SentimentHead(_RawTextPredictor):
    """Logistic regression over character n-gram TF-IDF (words 1-2 too when ``word_ngrams``) beside the
    embedding scaled by ``embedding_weight``; with ``embedding_weight=0, word_ngrams=True`` it is the TF-IDF
    baseline of ../shared/BASELINES.md."""

    def __init__(self, c: float = 4.0, embedding_weight: float = 1.0, seed: int = 0,
                 embeddings_from: dict[str, Any] | None = None, word_ngrams: bool = False) -> None:
        self.c, self.embedding_weight, self.seed, self.embeddings_from = c, embedding_weight, seed, embeddings_from
        self.word_ngrams = word_ngrams

    def _features(self, texts: Sequence[str], embeddings: np.ndarray):
        ngrams = self.tfidf.transform([normalise(t) for t in texts])
        if not self.embedding_weight:  # the baseline reads no embedding, so it blends with a head over any encoder
            return ngrams
        return sparse.hstack([ngrams, sparse.csr_matrix(embeddings * self.embedding_weight)]).tocsr()

    def fit(self, texts: Sequence[str], embeddings: np.ndarray, labels: Sequence[str]) -> "SentimentHead":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        unknown = set(labels) - set(SENTIMENTS)
        if unknown:
            raise DataStop(f"unknown sentiment labels {sorted(unknown)}; expected {SENTIMENTS}")
        from sklearn.pipeline import make_union

        vectorisers = [TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 5), min_df=2, sublinear_tf=True,
                                       max_features=200_000)]
        if self.word_ngrams:
            vectorisers.append(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=200_000))
        self.tfidf = make_union(*vectorisers).fit([normalise(t) for t in texts])
        self.model = LogisticRegression(C=self.c, max_iter=2000, class_weight="balanced", random_state=self.seed)
        self.model.fit(self._features(texts, embeddings), list(labels))
        return self

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray) -> pd.DataFrame:
        probabilities = self.model.predict_proba(self._features(texts, embeddings))
        # A corpus without neutral texts (tweets labelled positive or negative) gives neutral no mass.
        frame = pd.DataFrame(probabilities, columns=self.model.classes_)
        return frame.reindex(columns=list(SENTIMENTS), fill_value=0.0)


def checked_nearest_anchors(nearest_anchors: Any, fewest_anchors: int) -> int | None:
    """``clustering.zero_shot_nearest_anchors``, or a stop that names it (the pipeline checks it before any node)."""
    if nearest_anchors is not None and (isinstance(nearest_anchors, bool) or not isinstance(nearest_anchors, int)
                                        or not 1 <= nearest_anchors <= fewest_anchors):
        raise SettingsError(f"clustering.zero_shot_nearest_anchors must be null or a whole number from 1 to "
                            f"{fewest_anchors} (the fewest anchors of a sentiment), got {nearest_anchors!r}")
    return nearest_anchors


class ZeroShotSentiment(_RawTextPredictor):
    """Each class's anchor phrases scored by cosine against a text, turned into probabilities.

    ``nearest_anchors`` None scores a class by the cosine to its anchors' mean embedding; a number k, by
    the mean cosine to its k anchors nearest the text. The mean of anchors from several domains (a
    service, prices, people) lies between them and blurs the class; the nearest few keep each domain's
    reading (docs/text_systems.md measures both).
    """

    nearest_anchors: int | None = None  # what a model pickled before the option existed reads

    def __init__(self, anchor_embeddings: dict[str, np.ndarray], temperature: float = 0.02,
                 embeddings_from: dict[str, Any] | None = None, nearest_anchors: int | None = None) -> None:
        missing = set(SENTIMENTS) - set(anchor_embeddings)
        if missing:
            raise SettingsError(f"zero-shot sentiment needs anchors for {sorted(missing)}")
        checked_nearest_anchors(nearest_anchors, min(len(anchor_embeddings[s]) for s in SENTIMENTS))
        self.anchors = {s: anchor_embeddings[s] / np.linalg.norm(anchor_embeddings[s], axis=1, keepdims=True)
                        for s in SENTIMENTS}
        centres = np.vstack([anchor_embeddings[s].mean(axis=0) for s in SENTIMENTS])
        self.centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
        self.temperature, self.embeddings_from, self.nearest_anchors = temperature, embeddings_from, nearest_anchors

    def _cosines(self, embeddings: np.ndarray) -> np.ndarray:
        """One column per class: the cosine to its centre, or the mean of its nearest anchors' cosines."""
        if self.nearest_anchors is None:
            return embeddings @ self.centres.T
        return np.column_stack([np.sort(embeddings @ self.anchors[s].T, axis=1)[:, -self.nearest_anchors:].mean(axis=1)
                                for s in SENTIMENTS])

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray) -> pd.DataFrame:
        logits = self._cosines(embeddings) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        return pd.DataFrame(probabilities / probabilities.sum(axis=1, keepdims=True), columns=list(SENTIMENTS))


class FineTunedSentiment(_RawTextPredictor):
    """A transformer fine-tuned on the labelled texts: the topic classifier of kind ``finetune`` (``options``
    are its options, ``trainable_layers`` among them) with one output per sentiment, stopped early on
    ``validation_share`` of the training texts; its outputs normalised into probabilities. It reads texts,
    no embedding."""

    embeddings_from = None

    def __init__(self, options: dict[str, Any], validation_share: float = 0.15, seed: int = 0) -> None:
        from socialml.components.text.topics import build_topic_classifier

        self.network = build_topic_classifier({"kind": "finetune", **options})  # options checked now, not after training
        self.validation_share, self.seed = validation_share, seed

    def fit(self, texts: Sequence[str], embeddings: np.ndarray | None, labels: Sequence[str]) -> "FineTunedSentiment":
        from sklearn.model_selection import train_test_split

        labels = np.asarray(labels)
        classes = [s for s in SENTIMENTS if s in set(labels)]
        y = (labels[:, None] == np.array(classes)[None, :]).astype(int)
        stratify = labels if pd.Series(labels).value_counts().min() >= 2 else None
        rows, stop = train_test_split(np.arange(len(labels)), test_size=self.validation_share, random_state=self.seed,
                                      stratify=stratify)
        self.network.fit([texts[i] for i in rows], None, y[rows], classes,
                         validation=([texts[i] for i in stop], None, y[stop]))
        return self

    @property
    def training_record(self) -> dict[str, Any]:
        """How the network's training ended, with its validation loss after each epoch."""
        return self.network.training_record

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> pd.DataFrame:
        scores = self.network.predict_proba(texts)  # one sigmoid per sentiment
        frame = scores.div(scores.sum(axis=1).clip(lower=1e-12), axis=0)
        return frame.reindex(columns=list(SENTIMENTS), fill_value=0.0)


class BlendedSentiment(_RawTextPredictor):
    """Weighted average of several sentiment models' probabilities (the head and the word + character TF-IDF
    model together beat either alone on RuSentiment; a trained head and zero-shot anchors together beat either
    alone on answers from another domain than the head's training texts). A model that reads no embedding
    (``embeddings_from`` None) blends with any other."""

    def __init__(self, models: list, weights: list[float]) -> None:
        if len(models) != len(weights) or not models or sum(weights) <= 0:
            raise SettingsError("need one positive weight per model")
        records = [m.embeddings_from for m in models if m.embeddings_from]
        identities = {record["identity"] for record in records}
        if len(identities) > 1:
            raise ValueError(f"sentiment models made from different encoders cannot be blended: {sorted(identities)}")
        self.models, self.weights = models, [w / sum(weights) for w in weights]
        self.embeddings_from = records[0] if records else None

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray) -> pd.DataFrame:
        return sum(w * m.predict_proba(texts, embeddings) for m, w in zip(self.models, self.weights))


# A short answer that is one negated clause: "ничего не мешает", "никаких помех", "претензий нет". Russian
# negators; an answer in another language never matches. The words before the negator only strengthen it.
_CLAUSE = r"(?P<clause>[\w-]+(?:\s+[\w-]+)*)"
_END = r"[^\w,;:]*$"  # trailing punctuation and emoji, no second clause
_NEGATED = [
    re.compile(r"^(?:(?:ничего|ничто|никто|никогда|нигде|совсем|вообще|особо|абсолютно|пока|точно)\s+)*"
               rf"(?:не|нет|никаких|никакого|никакой|никакие|без)\s+{_CLAUSE}{_END}"),
    re.compile(rf"^(?:никаких\s+)?{_CLAUSE}\s+нет{_END}"),
    # What works, then the trouble it is without: "работает без сбоев", "доставили вовремя без задержек".
    re.compile(rf"^(?P<lead>[\w-]+(?:\s+[\w-]+){{0,2}})\s+без\s+{_CLAUSE}{_END}"),
]
# A clause holding one of these is a double negation or two clauses: left to the model.
_NOT_ONE_CLAUSE = {"не", "нет", "ни", "без", "но", "а", "однако", "зато", "хотя", "никаких", "ничего", "никто"}
# Negators long enough that a word one typo from them is not another word: "никаих" is "никаких".
_LONG_NEGATORS = ("ничего", "ничто", "никто", "никогда", "нигде", "никаких", "никакого", "никакой", "никакие")


def _mended_negator(word: str) -> str:
    """``word``, or the long negator it misspells (one letter added, dropped or changed; not a real word)."""
    if len(word) < 5 or word in _LONG_NEGATORS:
        return word
    negator = next((n for n in _LONG_NEGATORS if _one_edit_apart(word, n)), None)
    return negator if negator is not None and not is_known_word(word) else word


def negated_clause(text: str, max_words: int) -> str | None:
    """The clause a short negated answer negates ("ничего не мешает" → "мешает", "никаих помех" → "помех",
    "работает без сбоев" → "сбоев"), or None when the answer is not one negated clause of at most
    ``max_words`` words (before "без" too)."""
    folded = re.sub(r"\w+", lambda word: _mended_negator(word[0]), normalise(text))
    for pattern in _NEGATED:
        match = pattern.match(folded)
        if match:
            words = match["clause"].split() + match.groupdict().get("lead", "").split()
            if len(words) <= max_words and not _NOT_ONE_CLAUSE.intersection(words):
                return match["clause"]
    return None


def _one_edit_apart(a: str, b: str) -> bool:
    """Whether one letter added, dropped or changed turns ``a`` into ``b`` (a typo: "мешаает", "мешает")."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), len(a))
    return a[first + (len(a) == len(b)):] == b[first + 1:]


class DeniedTroubleSentiment(_RawTextPredictor):
    """``model`` with answers that deny a trouble read as praise.

    Sentence embeddings put "ничего не мешает" beside "мешают коллеги", so a model over them reads it as a
    complaint, and "никаких помех" as neutral; in a survey both say that nothing is wrong. An answer that
    is one negated clause of at most ``max_words`` words (``negated_clause``) holding a word of trouble (a
    form of one of ``words``: "мешать", "проблема", "претензия"; a word the dictionary does not know
    matches a form one typo away) is read as positive. Other negated answers ("не устраивает", "не знаю")
    keep the model's reading: reading their clause alone and reversing it misled more than it mended
    (docs/text_systems.md). No ``words`` turns the rule off."""

    def __init__(self, model: Any, words: Sequence[str] = (), max_words: int = 5) -> None:
        if not isinstance(max_words, int) or max_words < 1:
            raise SettingsError(f"max_words must be a whole number >= 1, got {max_words!r}")
        self.model, self.max_words, self.embeddings_from = model, max_words, model.embeddings_from
        self.forms = frozenset(form for word in words for form in word_forms(word.lower()))

    def _is_trouble(self, word: str) -> bool:
        if word in self.forms:
            return True
        return len(word) > 4 and not is_known_word(word) and any(_one_edit_apart(word, f) for f in self.forms)

    def denies_trouble(self, texts: Sequence[str]) -> np.ndarray:
        """Whether each text is one negated clause holding a word of trouble."""
        def denies(text: str) -> bool:
            clause = negated_clause(text, self.max_words) if self.forms else None
            return clause is not None and any(self._is_trouble(word) for word in clause.split())
        return np.array([denies(text) for text in texts], dtype=bool)

    def adjust(self, texts: Sequence[str], probabilities: pd.DataFrame) -> pd.DataFrame:
        """``probabilities`` of ``texts`` with each answer that denies a trouble read as positive."""
        out = probabilities.reset_index(drop=True).copy()
        out.loc[self.denies_trouble(texts), list(out.columns)] = [1.0 if c == "positive" else 0.0 for c in out.columns]
        return out

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None) -> pd.DataFrame:
        return self.adjust(texts, self.model.predict_proba(texts, embeddings))


# Variation selectors and skin tones: "❤️" is "❤", "👍🏽" is "👍".
_EMOJI_VARIANTS = re.compile("[\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]")


class EmojiSentiment(_RawTextPredictor):
    """``model`` with an answer's emoji heard.

    Sentence encoders read an emoji as next to nothing: "😡", "👎" and "👍" alone came out neutral at 0.93 to
    0.98, and "ипотека 😄" too. The answer's emoji from ``positive`` and ``negative`` vote (each occurrence
    once); where one side wins, ``weight`` of the answer's neutral probability moves to it, so words with a
    sentiment of their own keep it ("отлично работает 🤬" stays praise). An answer of emoji alone (no letter or
    digit) has no words to weigh against them: all of its neutral probability moves. Emoji in neither list
    (🤔, 📅) change nothing; no lists turn the rule off."""

    def __init__(self, model: Any, positive: Sequence[str] = (), negative: Sequence[str] = (),
                 weight: float = 0.5) -> None:
        if isinstance(positive, str) or isinstance(negative, str):
            raise SettingsError("emoji positive and negative must be lists of emoji, got a string")
        self.model, self.embeddings_from = model, model.embeddings_from
        self.weight = checked_share("clustering.emoji.weight", weight)
        sides = {"positive": {_EMOJI_VARIANTS.sub("", e) for e in positive},
                 "negative": {_EMOJI_VARIANTS.sub("", e) for e in negative}}
        if both := sides["positive"] & sides["negative"]:
            raise SettingsError(f"emoji listed as both positive and negative: {sorted(both)}")
        if empty := [side for side, emoji in sides.items() if "" in emoji]:
            raise SettingsError(f"the {empty[0]} emoji list holds an empty entry")
        self.sides = sides

    def polarity(self, texts: Sequence[str]) -> np.ndarray:
        """+1 where an answer's positive emoji outnumber its negative ones, -1 the other way, else 0."""
        def vote(text: str) -> int:
            bare = _EMOJI_VARIANTS.sub("", text)
            count = {side: sum(bare.count(e) for e in emoji) for side, emoji in self.sides.items()}
            return int(np.sign(count["positive"] - count["negative"]))
        return np.array([vote(text) for text in texts], dtype=int)

    def adjust(self, texts: Sequence[str], probabilities: pd.DataFrame) -> pd.DataFrame:
        """``probabilities`` of ``texts`` with the neutral probability moved as the answers' emoji say."""
        polarity = self.polarity(texts)
        emoji_only = np.array([re.search(r"[^\W_]", text) is None for text in texts], dtype=bool)
        share = np.where(emoji_only, 1.0, self.weight) * (polarity != 0)
        side = np.where(polarity > 0, SENTIMENTS.index("positive"), SENTIMENTS.index("negative"))
        return moved_from_neutral(probabilities, share, np.eye(len(SENTIMENTS))[side])

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None) -> pd.DataFrame:
        return self.adjust(texts, self.model.predict_proba(texts, embeddings))


def moved_from_neutral(probabilities: pd.DataFrame, share: np.ndarray, towards: np.ndarray) -> pd.DataFrame:
    """``probabilities`` (a row per text) with ``share`` of each row's neutral probability moved to the
    distribution ``towards`` (a row per text, columns in ``SENTIMENTS`` order): what emoji and a question's
    frame both do, so that an answer with a sentiment of its own keeps it."""
    own = probabilities.reset_index(drop=True)[list(SENTIMENTS)].to_numpy(dtype=float)
    neutral = SENTIMENTS.index("neutral")
    away = towards - np.eye(len(SENTIMENTS))[neutral]
    return pd.DataFrame(own + np.asarray(share, dtype=float)[:, None] * own[:, [neutral]] * away,
                        columns=list(SENTIMENTS))


def predict_labels(probabilities: pd.DataFrame) -> np.ndarray:
    return probabilities.idxmax(axis=1).to_numpy()


def checked_share(option: str, weight: Any) -> float:
    """``weight`` as a float if it is a number between 0 and 1, or a stop that names ``option`` (the pipeline
    checks its weights before any node runs)."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
        raise SettingsError(f"{option} must be a number between 0 and 1, got {weight!r}")
    return float(weight)


class QuestionFrame(_RawTextPredictor):
    """What a question asks for, and how that colours its answers' sentiment.

    "бюрократия" read alone is neutral; as an answer to "Что мешает вам работать?" it is a complaint, and
    "зарплата" answering "Что вам нравится?" is praise. ``reader`` (a ``ZeroShotSentiment`` over anchor
    questions) reads a question as asking for the good (positive), the bad (negative) or neither (neutral,
    "Из какого вы города?"). ``apply`` moves ``weight`` of an answer's neutral probability to what its
    question asks for, so an answer with a sentiment of its own keeps it. A nothing-answer ("ничего", "да
    нет", "никаких") says the opposite of what its question asks for: nothing good is a complaint, nothing
    bad is praise; it takes ``weight`` of the reversed frame. ``weight`` 0 turns framing off. Its MLflow
    face reads raw questions."""

    def __init__(self, reader: ZeroShotSentiment, weight: float = 0.75,
                 nothing_words: Sequence[str] = (), filler_words: Sequence[str] = ()) -> None:
        self.reader, self.weight = reader, checked_share("question_frame.weight", weight)
        self.embeddings_from = reader.embeddings_from
        self.nothing_words = frozenset(w.replace("ё", "е") for w in nothing_words)
        self.filler_words = frozenset(w.replace("ё", "е") for w in filler_words)

    def example_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"text": ["Что мешает вам работать эффективнее?"]})

    def predict_proba(self, questions: Sequence[str], embeddings: np.ndarray) -> pd.DataFrame:
        """One row per question: the probability that it asks for the positive, the neutral, the negative."""
        return self.reader.predict_proba(questions, embeddings)

    def says_nothing(self, texts: Sequence[str]) -> np.ndarray:
        """Whether each answer is nothing-words and fillers only ("ничего", "да нет"), one nothing-word at least."""
        def nothing(text: str) -> bool:
            words = set(re.findall(r"\w+", normalise(text).replace("ё", "е")))
            return bool(words & self.nothing_words) and words <= self.nothing_words | self.filler_words
        return np.array([nothing(text) for text in texts], dtype=bool)

    def apply(self, texts: Sequence[str], probabilities: pd.DataFrame, question_ids: Sequence[Any],
              asks_for: pd.DataFrame) -> pd.DataFrame:
        """``probabilities`` of answers to the questions ``question_ids``, read in the light of what each
        asks for (``asks_for``: a row of ``predict_proba`` per question id)."""
        columns = list(SENTIMENTS)
        own = probabilities.reset_index(drop=True)[columns].to_numpy(dtype=float)
        asks = asks_for.loc[list(question_ids), columns].to_numpy(dtype=float)
        moved = moved_from_neutral(probabilities, np.full(len(own), self.weight), asks).to_numpy(copy=True)
        opposite = {"positive": "negative", "neutral": "neutral", "negative": "positive"}
        reversed_asks = asks[:, [columns.index(opposite[c]) for c in columns]]
        nothing = self.says_nothing(texts)
        moved[nothing] = (1 - self.weight) * own[nothing] + self.weight * reversed_asks[nothing]
        return pd.DataFrame(moved, columns=columns)
