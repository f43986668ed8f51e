"""Encoders, sentiment and topic classification on the shared labelled data sets.

    .venv/bin/python benchmarks/bench_text.py [--data ../shared/data] [--encoders e5_small,use,navec,tfidf_svd]

Writes benchmarks/results/text.md with two tables (answer clustering is measured by bench_clustering.py):
1. encoder speed (texts/s, median of 3 runs, short survey answers and long news posts) on this CPU;
2. quality of each frozen encoder with a logistic-regression head, next to TF-IDF, on the protocols of
   ../shared/BASELINES.md (sensitive topics multi-label, Telegram news single-label, RuSentiment),
   plus our own sentiment head and topic models.
Embeddings go through the project's cache, so a second run only re-measures speed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from socialml.components.data.canonical import SENTIMENTS
from socialml.components.evaluation.metrics import classification_scores, multilabel_scores
from socialml.components.text.encoders import EmbeddingCache, build_encoder, cached_encode
from socialml.components.text.sentiment import SentimentHead, ZeroShotSentiment, predict_labels
from socialml.components.text.topics import HeadTopicClassifier, label_matrix

ROOT = Path(__file__).resolve().parents[1]
ENCODERS = {"e5_small": {"kind": "e5_small", "num_threads": 2, "batch_size": 64, "max_length": 256},
            "use": {"kind": "use", "threads": 2}, "navec": {"kind": "navec"}, "tfidf_svd": {"kind": "tfidf_svd"}}
SENSITIVE_LABELS = ["offline_crime", "online_crime", "drugs", "gambling", "pornography", "prostitution", "slavery",
                    "suicide", "terrorism", "weapons", "body_shaming", "health_shaming", "politics", "racism",
                    "religion", "sexual_minorities", "sexism", "social_injustice"]


def load(data: Path) -> dict:
    sensitive = {name: pd.read_csv(data / "sensitive_topics_multilabel" / f"{name}.csv")
                 for name in ("v1_crowdsource_only", "v2_val", "v2_test")}
    held_out = set(sensitive["v2_val"]["text"]) | set(sensitive["v2_test"]["text"])
    sensitive["v1_crowdsource_only"] = sensitive["v1_crowdsource_only"][~sensitive["v1_crowdsource_only"]["text"].isin(held_out)]
    telegram = pd.read_csv(data / "telegram_news_topics" / "telegram_news_topics.csv")
    senti = {name: pd.read_csv(data / "rusentiment" / f"rusentiment_{name}.csv") for name in ("random_posts", "preselected_posts", "test")}
    senti_train = pd.concat([senti["random_posts"], senti["preselected_posts"]])
    senti_train = senti_train[senti_train["label"].isin(SENTIMENTS)]
    senti_test = senti["test"][senti["test"]["label"].isin(SENTIMENTS)]
    survey = pd.read_csv(data / "survey_answers_ru" / "survey_answers.csv")
    return {"sensitive": sensitive, "telegram": telegram, "senti_train": senti_train, "senti_test": senti_test,
            "survey": survey}


def encoder_speed(encoder, texts: list[str], runs: int = 3) -> float:
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        encoder.encode(texts)
        rates.append(len(texts) / (time.perf_counter() - start))
    return statistics.median(rates)


def embed(encoder, texts: list[str], fit_texts: list[str] | None = None) -> np.ndarray:
    if getattr(encoder, "cacheable", True):
        return EmbeddingCache(encoder).encode(texts)
    encoder.fit(fit_texts or texts)
    return encoder.encode(texts)


def concat_cached(names: list[str], texts: list[str]) -> np.ndarray:
    """What the ``concat`` encoder of these parts gives (each part's unit vectors side by side, normalised
    again), each part through its own cache."""
    return cached_encode(build_encoder({"kind": "concat", "parts": [ENCODERS[name] for name in names]}), texts)


def sensitive_parts(sensitive: dict[str, pd.DataFrame]) -> dict[str, tuple[list[str], np.ndarray]]:
    """Each part of sensitive topics (v1_crowdsource_only, v2_val, v2_test) as texts and a label matrix
    (a label is present where its share of annotators is at least 0.5)."""
    return {name: (frame["text"].astype(str).tolist(), label_matrix(
        [[label for label in SENSITIVE_LABELS if row[label] >= 0.5] for _, row in frame.iterrows()], SENSITIVE_LABELS))
        for name, frame in sensitive.items()}


def sensitive_scores(d: dict, vectors: dict[str, np.ndarray] | None, features: str, head: str = "logreg") -> dict:
    s = d["sensitive"]
    parts = sensitive_parts(s)
    model = HeadTopicClassifier(features=features, head=head, c=4.0)
    vec = vectors or {k: None for k in s}
    model.fit(parts["v1_crowdsource_only"][0], vec["v1_crowdsource_only"], parts["v1_crowdsource_only"][1], SENSITIVE_LABELS)
    model.tune_thresholds(parts["v2_val"][0], vec["v2_val"], parts["v2_val"][1])
    probabilities = model.predict_proba(parts["v2_test"][0], vec["v2_test"]).to_numpy()
    summary, _ = multilabel_scores(parts["v2_test"][1], probabilities, model.thresholds, SENSITIVE_LABELS)
    return summary


def telegram_scores(d: dict, x: np.ndarray) -> dict:
    from sklearn.model_selection import train_test_split

    y = d["telegram"]["category"].to_numpy()
    train, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=0, stratify=y)
    model = LogisticRegression(C=4.0, max_iter=3000).fit(x[train], y[train])
    return classification_scores(y[test], model.predict(x[test]))


def tfidf_matrix(texts_fit: list[str], texts: list[str]):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union

    union = make_union(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=200_000),
                       TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True,
                                       max_features=200_000)).fit(texts_fit)
    return union.transform(texts)


def sentiment_rows(d: dict, name: str, train_x: np.ndarray, test_x: np.ndarray, anchors) -> list[dict]:
    train_t, test_t = d["senti_train"]["text"].astype(str).tolist(), d["senti_test"]["text"].astype(str).tolist()
    y_train, y_test = d["senti_train"]["label"].to_numpy(), d["senti_test"]["label"].to_numpy()
    lr = LogisticRegression(C=4.0, max_iter=3000, class_weight="balanced").fit(train_x, y_train)
    rows = [{"features": f"{name} + logistic regression", **classification_scores(y_test, lr.predict(test_x))}]
    if anchors is not None:
        head = SentimentHead().fit(train_t, train_x, y_train)
        rows.append({"features": f"{name} + char TF-IDF, SentimentHead (ours)",
                     **classification_scores(y_test, predict_labels(head.predict_proba(test_t, test_x)))})
        zero = ZeroShotSentiment(anchors, temperature=0.01)
        rows.append({"features": f"{name} zero-shot anchors (ours)",
                     **classification_scores(y_test, predict_labels(zero.predict_proba(test_t, test_x)))})
    return rows


def markdown(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, floatfmt=".3f")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--encoders", default=",".join(ENCODERS))
    args = parser.parse_args()
    d = load(args.data)
    names = args.encoders.split(",")
    short = d["survey"]["answer"].astype(str).tolist()[:500]
    long = d["telegram"]["text"].astype(str).tolist()[:200]
    speed, quality, sentiment = [], [], []
    s = d["sensitive"]
    anchors_text = {"positive": ["отлично, всё супер", "очень нравится", "спасибо, замечательно", "радость и вдохновение"],
                    "neutral": ["нормально", "обычный ответ без эмоций", "не знаю", "спокойно, без изменений"],
                    "negative": ["ужасно, всё плохо", "очень не нравится", "разочарование и злость", "усталость и стресс"]}
    for name in names:
        encoder = build_encoder(ENCODERS[name])
        if not getattr(encoder, "cacheable", True):
            encoder.fit(short + long)
        speed.append({"encoder": name, "short answers texts/s": encoder_speed(encoder, short),
                      "news posts texts/s": encoder_speed(encoder, long)})
        train_texts = s["v1_crowdsource_only"]["text"].astype(str).tolist()
        vectors = {k: embed(build_encoder(ENCODERS[name]), s[k]["text"].astype(str).tolist(), train_texts) for k in s}
        quality.append({"encoder": name, "task": "sensitive topics (18 labels)",
                        **sensitive_scores(d, vectors, "embedding")})
        telegram_x = embed(build_encoder(ENCODERS[name]), d["telegram"]["text"].astype(str).tolist())
        quality.append({"encoder": name, "task": "telegram news (12 classes)", **telegram_scores(d, telegram_x)})
        fit = d["senti_train"]["text"].astype(str).tolist()
        senti_encoder = build_encoder(ENCODERS[name])
        train_x = embed(senti_encoder, fit)
        test_x = embed(senti_encoder, d["senti_test"]["text"].astype(str).tolist(), fit)
        anchors = None
        if getattr(senti_encoder, "cacheable", True):
            anchors = {k: senti_encoder.encode(v) for k, v in anchors_text.items()}
        sentiment += sentiment_rows(d, name, train_x, test_x, anchors)
    quality.append({"encoder": "TF-IDF word+char (no encoder)", "task": "sensitive topics (18 labels)",
                    **sensitive_scores(d, None, "tfidf")})
    telegram_texts = d["telegram"]["text"].astype(str).tolist()
    quality.append({"encoder": "TF-IDF word+char (no encoder)", "task": "telegram news (12 classes)",
                    **telegram_scores(d, tfidf_matrix(telegram_texts, telegram_texts))})
    if "e5_small" in names:
        e5 = build_encoder(ENCODERS["e5_small"])
        vectors = {k: EmbeddingCache(e5).encode(s[k]["text"].astype(str).tolist()) for k in s}
        quality.append({"encoder": "e5_small + TF-IDF (ours: embedding_tfidf_logreg)", "task": "sensitive topics (18 labels)",
                        **sensitive_scores(d, vectors, "both")})
    fit, test = d["senti_train"]["text"].astype(str).tolist(), d["senti_test"]["text"].astype(str).tolist()
    if {"e5_small", "use"} <= set(names):  # the two encoders side by side, as the answer clustering uses them
        pair, label = ["e5_small", "use"], "concat(e5_small, use)"
        vectors = {k: concat_cached(pair, s[k]["text"].astype(str).tolist()) for k in s}
        quality.append({"encoder": label, "task": "sensitive topics (18 labels)",
                        **sensitive_scores(d, vectors, "embedding")})
        quality.append({"encoder": f"{label} + TF-IDF", "task": "sensitive topics (18 labels)",
                        **sensitive_scores(d, vectors, "both")})
        quality.append({"encoder": label, "task": "telegram news (12 classes)",
                        **telegram_scores(d, concat_cached(pair, telegram_texts))})
        train_x, test_x = concat_cached(pair, fit), concat_cached(pair, test)
        head = SentimentHead().fit(fit, train_x, d["senti_train"]["label"].to_numpy())
        sentiment.append({"features": f"{label} + char TF-IDF, SentimentHead", **classification_scores(
            d["senti_test"]["label"].to_numpy(), predict_labels(head.predict_proba(test, test_x)))})
    baseline = LogisticRegression(C=4.0, max_iter=3000, class_weight="balanced").fit(
        tfidf_matrix(fit, fit), d["senti_train"]["label"])
    sentiment.append({"features": "TF-IDF word+char + logistic regression",
                      **classification_scores(d["senti_test"]["label"], baseline.predict(tfidf_matrix(fit, test)))})
    out = ROOT / "benchmarks" / "results" / "text.md"
    out.write_text(
        "# Text intelligence on the shared data\n\n"
        "Reproduce: `.venv/bin/python benchmarks/bench_text.py`. 2 CPU cores, no GPU was lent to this task.\n"
        "Protocols as in `../shared/BASELINES.md` (seed 0; sensitive topics: v1 minus the texts of v2_val/v2_test "
        "for training, thresholds per label tuned on v2_val, scored on v2_test).\n\n"
        "## Encoder speed (median of 3 runs; 500 short answers, 200 news posts truncated to 256 tokens)\n\n"
        f"{markdown(pd.DataFrame(speed))}\n\n"
        "## Topic classification, frozen encoders + logistic regression\n\n"
        f"{markdown(pd.DataFrame(quality))}\n\n"
        "## Sentiment, RuSentiment train → test (positive / neutral / negative)\n\n"
        f"{markdown(pd.DataFrame(sentiment))}\n\n"
        "## Answer clustering\n\n"
        "Measured by `benchmarks/bench_clustering.py`: see `benchmarks/results/clustering.md`.\n"
    )
    print(out.read_text())


if __name__ == "__main__":
    main()
