"""Text normalisation and keyword extraction for short, informal Russian (and English) texts."""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np

EMOJI = "[\U0001f300-\U0001faff\u2600-\u27bf\U0001f1e6-\U0001f1ff]"
_EMOJI_RUN = re.compile(rf"({EMOJI})(?:\ufe0f)?(?:\s*\1(?:\ufe0f)?)+")
_PUNCT_RUN = re.compile(r"([!?.)(])\1+")
_SPACES = re.compile(r"\s+")
_TOKEN = re.compile(rf"{EMOJI}|[^\W\d_]+(?:-[^\W\d_]+)*", re.UNICODE)


def normalise(text: str) -> str:
    """Fold what does not change meaning, keep what does.

    Lower case, ё → е, runs of the same emoji or punctuation mark collapse to one ("👍👍" → "👍",
    "!!!" → "!", "...": "."), whitespace is squeezed. Emoji and punctuation stay: they carry sentiment.
    """
    text = text.lower().replace("ё", "е").replace("\ufe0f", "")
    text = _EMOJI_RUN.sub(r"\1", text)
    text = _PUNCT_RUN.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()


def shortened(text: str, limit: int) -> str:
    """``text`` whole up to ``limit`` characters, else cut at a word within them and marked with "…"."""
    if len(text) <= limit:
        return text
    return text[:limit - 1].rsplit(" ", 1)[0].rstrip(" ,.;:—-") + "…"


def join_fields(*fields: Iterable[str | None]) -> list[str]:
    """Row-wise join of text fields, skipping empty ones ("doc. image caption. speech")."""
    return [". ".join(f.strip() for f in row if isinstance(f, str) and f.strip()) for row in zip(*fields)]


@lru_cache(maxsize=1)
def _morph():
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    from stop_words import get_stop_words

    extra = {"это", "очень", "всё", "все", "весь", "свой", "который", "наш", "ваш", "мой", "быть"}
    return frozenset(get_stop_words("russian")) | frozenset(get_stop_words("english")) | extra


@lru_cache(maxsize=200_000)
def lemma(word: str) -> str:
    if not re.match(r"[а-яё]", word):
        return word
    return _morph().parse(word)[0].normal_form.replace("ё", "е")


def word_forms(word: str) -> set[str]:
    """Every inflected form of a Russian word ("мешать" → "мешает", "мешали", ...), ё as е; other words
    stand for themselves."""
    forms = {word.replace("ё", "е")}
    if re.match(r"[а-яё]", word):
        forms |= {form.word.replace("ё", "е") for form in _morph().parse(word)[0].lexeme}
    return forms


def is_known_word(word: str) -> bool:
    """Whether the Russian dictionary knows ``word`` (a misspelt word it does not)."""
    return _morph().word_is_known(word)


def keyword_tokens(text: str) -> list[str]:
    """Lemmas of content words, plus emoji; stop words and one-letter words dropped."""
    tokens = []
    for token in _TOKEN.findall(text.lower()):
        if re.fullmatch(EMOJI, token):
            tokens.append(token)
            continue
        if re.match(r"[а-яё]", token) and not is_known_word(token):
            continue  # a typo: its correctly spelt neighbours carry the keyword
        word = lemma(token)
        if len(word) > 1 and word not in stop_words():
            tokens.append(word)
    return tokens


def class_tfidf_keywords(documents: Sequence[Sequence[str]], weights: Sequence[Sequence[float]] | None = None,
                         top_n: int = 5) -> list[list[str]]:
    """c-TF-IDF (as BERTopic): each class's token counts, scaled by log(1 + mean class size / token frequency).

    ``documents[c]`` holds every token occurrence of class c, ``weights[c]`` the weight of each
    occurrence (how many people gave the answer it came from).
    """
    counts = []
    for c, tokens in enumerate(documents):
        counter: Counter = Counter()
        for i, token in enumerate(tokens):
            counter[token] += weights[c][i] if weights is not None else 1.0
        counts.append(counter)
    vocabulary = sorted(set().union(*counts)) if counts else []
    if not vocabulary:
        return [[] for _ in documents]
    index = {t: i for i, t in enumerate(vocabulary)}
    tf = np.zeros((len(counts), len(vocabulary)))
    for c, counter in enumerate(counts):
        for token, n in counter.items():
            tf[c, index[token]] = n
    row_sums = tf.sum(axis=1, keepdims=True)
    average_size = row_sums.mean()
    idf = np.log(1 + average_size / np.maximum(tf.sum(axis=0), 1e-9))
    scores = tf / np.where(row_sums == 0, 1, row_sums) * idf
    keywords = []
    for c in range(len(counts)):
        order = np.argsort(-scores[c], kind="stable")
        keywords.append([vocabulary[i] for i in order[:top_n] if scores[c, i] > 0])
    return keywords
