"""The sentiment pipeline's comparison on RuSentiment, with its bootstrap intervals.

    .venv/bin/python benchmarks/bench_sentiment.py [--data ../shared/data] [--runs 1000]

Protocol of ../shared/BASELINES.md: train on random_posts + preselected_posts, score on test (positive,
neutral and negative texts only). The models are the `sentiment` pipeline's: its baseline (TF-IDF of words
and characters, logistic regression: BASELINES.md's strongest row) and its SentimentHead over each
encoder's embeddings (e5 alone, and e5 and USE side by side as `conf/real` embeds), and each head averaged
with the baseline (the model the pipeline serves); then `conf/real`'s fine-tuned e5 (top two layers, its
options read from conf/real/parameters_sentiment.yml), alone and averaged with the e5 + USE head and the
baseline (the pipeline's `ensemble_finetuned_head_and_tfidf`). Intervals come from
the pipeline's own `classification_intervals` (test texts resampled, the same draws for every model; the gain
is the paired macro-F1 difference from the baseline). Embeddings come from the project's cache.
Writes benchmarks/results/sentiment.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import yaml

from bench_text import ENCODERS, concat_cached, load
from socialml.components.evaluation.metrics import classification_intervals, classification_scores
from socialml.components.text.encoders import build_encoder, cached_encode
from socialml.components.text.sentiment import BlendedSentiment, FineTunedSentiment, SentimentHead, predict_labels

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sentiment.md"
BASELINE = "baseline_word_char_tfidf"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    d = load(args.data)
    train_texts, test_texts = d["senti_train"]["text"].astype(str).tolist(), d["senti_test"]["text"].astype(str).tolist()
    y_train, truth = d["senti_train"]["label"].to_numpy(), d["senti_test"]["label"].to_numpy()
    encoder = build_encoder(ENCODERS["e5_small"])
    e5 = cached_encode(encoder, train_texts), cached_encode(encoder, test_texts)
    features = {BASELINE: e5,  # weighted 0 by the baseline
                "embedding_and_char_tfidf (e5)": e5,
                "embedding_and_char_tfidf (e5 + USE)": (concat_cached(["e5_small", "use"], train_texts),
                                                        concat_cached(["e5_small", "use"], test_texts))}
    predictions, fit_seconds, heads = {}, {}, {}
    for name, (train_x, test_x) in features.items():
        head = SentimentHead(embedding_weight=0.0, word_ngrams=True) if name == BASELINE else SentimentHead()
        start = time.perf_counter()
        heads[name] = head.fit(train_texts, train_x, y_train)
        fit_seconds[name] = time.perf_counter() - start
        predictions[name] = predict_labels(head.predict_proba(test_texts, test_x))
    for name in ("embedding_and_char_tfidf (e5)", "embedding_and_char_tfidf (e5 + USE)"):
        # The pipeline's served model: the head and the baseline averaged with equal weights.
        ensemble = BlendedSentiment([heads[name], heads[BASELINE]], [1.0, 1.0])
        served = name.replace("embedding_and_char_tfidf", "ensemble_head_and_tfidf")
        predictions[served] = predict_labels(ensemble.predict_proba(test_texts, features[name][1]))
        fit_seconds[served] = fit_seconds[name] + fit_seconds[BASELINE]
    # conf/real's fine-tuned e5 (its options as configured there), alone and averaged with the two.
    options = yaml.safe_load((ROOT / "conf/real/parameters_sentiment.yml").read_text())["sentiment"]["finetune"]
    start = time.perf_counter()
    finetuned = FineTunedSentiment(options).fit(train_texts, None, y_train)
    fit_seconds["finetuned_e5"] = time.perf_counter() - start
    predictions["finetuned_e5"] = predict_labels(finetuned.predict_proba(test_texts))
    pair = "embedding_and_char_tfidf (e5 + USE)"
    blend = BlendedSentiment([heads[pair], heads[BASELINE], finetuned], [1.0] * 3)
    predictions["ensemble_finetuned_head_and_tfidf (e5 + USE)"] = predict_labels(blend.predict_proba(test_texts, features[pair][1]))
    fit_seconds["ensemble_finetuned_head_and_tfidf (e5 + USE)"] = sum(fit_seconds[n] for n in (pair, BASELINE, "finetuned_e5"))
    intervals = classification_intervals(truth, predictions, BASELINE, args.runs)
    table = pd.DataFrame([{"model": name, **classification_scores(truth, predicted), **intervals[name],
                           "fit_seconds": fit_seconds[name]} for name, predicted in predictions.items()])
    columns = ["model", "macro_f1", "macro_f1_low", "macro_f1_high", "accuracy", f"gain_vs_{BASELINE}", "gain_low",
               "gain_high", "fit_seconds"]
    RESULTS.write_text(
        "# Sentiment: RuSentiment train → test\n\n"
        f"Reproduce: `.venv/bin/python benchmarks/bench_sentiment.py`. 2 CPU cores, no GPU. {len(truth)} test texts, "
        f"{len(y_train)} training texts; macro-F1 and accuracy with 95 % bootstrap intervals ({args.runs} resamples "
        f"of the test texts), and each model's paired macro-F1 gain over `{BASELINE}`. Fit times exclude "
        "embedding (cached).\n\n"
        f"{table[columns].to_markdown(index=False, floatfmt='.3f')}\n")
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
