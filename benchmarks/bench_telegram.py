"""Telegram news topics (single-label, 12 classes): frozen encoders and TF-IDF, alone and side by side.

    .venv/bin/python benchmarks/bench_telegram.py [--data ../shared/data] [--runs 1000]

Protocol of ../shared/BASELINES.md: a stratified 80/20 split (seed 0), logistic regression (C = 4) on the
training posts, macro-F1 of its top class on the test posts. The TF-IDF (words 1-2, characters 2-5) is
fitted on the training posts only. Embeddings come from the project's cache (e5 with max_length 256, as
`conf/real`). Every row carries 95 % bootstrap intervals over the test posts, and its paired macro-F1 gain
over BASELINES.md's best row (e5 + logistic regression). The last row is the mean of the probabilities of
the members of `conf/real`'s `mlp_head_tfidf_ensemble`, here as single-label models: TF-IDF + e5 + USE + LR,
TF-IDF + LR, and the topic MLP over e5 + USE (early stopping on 15 % of the training posts, stratified);
then `conf/real`'s `finetuned_e5_top2` (e5 with its top two layers fine-tuned, as configured there; the
same early-stopping posts) alone, and the mean of the four. The rows marked "standardised" read e5 + USE
centred and scaled per dimension over the training posts (the topic models' `standardise` option,
``Standardiser``), the TF-IDF as it is.
Writes benchmarks/results/telegram.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from bench_text import ENCODERS, concat_cached, load, tfidf_matrix
from socialml.components.evaluation.metrics import classification_intervals, classification_scores
from socialml.components.text.encoders import build_encoder, cached_encode
from socialml.components.text.topics import build_topic_classifier
from socialml.components.text.vectors import Standardiser

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "telegram.md"
BASELINE = "e5 + LR"
ENSEMBLE = "mean of TF-IDF + e5 + USE + LR, TF-IDF + LR and the MLP over e5 + USE"
FINETUNED = "finetuned_e5_top2"
ENSEMBLE_FINETUNED = "mean of those three and finetuned_e5_top2"
STANDARDISED_ENSEMBLE = "mean of the three, e5 + USE standardised"
STANDARDISED_ENSEMBLE_FINETUNED = "mean of the three, e5 + USE standardised, and finetuned_e5_top2"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    telegram = load(args.data)["telegram"]
    texts, y = telegram["text"].astype(str).tolist(), telegram["category"].to_numpy()
    train, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=0, stratify=y)
    e5, pair = cached_encode(build_encoder(ENCODERS["e5_small"]), texts), concat_cached(["e5_small", "use"], texts)
    tfidf = tfidf_matrix([texts[i] for i in train], texts)
    standardised_pair = Standardiser.fit(pair[train]).transform(pair)
    features = {BASELINE: e5, "e5 + USE + LR": pair, "TF-IDF + LR": tfidf,
                "TF-IDF + e5 + LR": sparse.hstack([tfidf, e5]).tocsr(),
                "TF-IDF + e5 + USE + LR": sparse.hstack([tfidf, pair]).tocsr(),
                "e5 + USE standardised + LR": standardised_pair,
                "TF-IDF + e5 + USE standardised + LR": sparse.hstack([tfidf, standardised_pair]).tocsr()}
    predictions, fit_seconds, probabilities = {}, {}, {}
    for name, x in features.items():
        start = time.perf_counter()
        model = LogisticRegression(C=4.0, max_iter=3000).fit(x[train], y[train])
        fit_seconds[name] = time.perf_counter() - start
        probabilities[name] = model.predict_proba(x[test])
        predictions[name] = model.classes_[probabilities[name].argmax(axis=1)]
        print(name, classification_scores(y[test], predictions[name]), flush=True)
    classes = model.classes_
    fit, stop = train_test_split(train, test_size=0.15, random_state=0, stratify=y[train])
    one_hot = (y[:, None] == classes[None, :]).astype(int)
    members, standardised_members = {}, {}
    for standardise, head, into, name in ((False, "TF-IDF + e5 + USE + LR", members, ENSEMBLE),
                                          (True, "TF-IDF + e5 + USE standardised + LR", standardised_members,
                                           STANDARDISED_ENSEMBLE)):
        start = time.perf_counter()
        mlp = build_topic_classifier({"kind": "mlp", "standardise": standardise}).fit(
            [texts[i] for i in fit], pair[fit], one_hot[fit], list(classes),
            validation=([texts[i] for i in stop], pair[stop], one_hot[stop]))
        network = mlp.predict_proba([texts[i] for i in test], pair[test]).to_numpy()
        mlp_row = f"MLP over e5 + USE{' standardised' if standardise else ''}"
        fit_seconds[mlp_row] = time.perf_counter() - start
        # the MLP's per-label sigmoids made a distribution
        probabilities[mlp_row] = network / network.sum(axis=1, keepdims=True)
        predictions[mlp_row] = classes[network.argmax(axis=1)]
        into.update({head: probabilities[head], "TF-IDF + LR": probabilities["TF-IDF + LR"],
                     mlp_row: probabilities[mlp_row]})
        predictions[name] = classes[np.mean(list(into.values()), axis=0).argmax(axis=1)]
        fit_seconds[name] = sum(fit_seconds[member] for member in into)
    # conf/real's fine-tuned e5 (top two layers), early-stopped on the MLP's validation posts.
    spec = yaml.safe_load((ROOT / "conf/real/parameters_topics.yml").read_text())["topics"]["models"][FINETUNED]
    start = time.perf_counter()
    finetuned = build_topic_classifier(spec).fit([texts[i] for i in fit], None, one_hot[fit], list(classes),
                                                 validation=([texts[i] for i in stop], None, one_hot[stop]))
    fit_seconds[FINETUNED] = time.perf_counter() - start
    scores = finetuned.predict_proba([texts[i] for i in test]).to_numpy()
    predictions[FINETUNED] = classes[scores.argmax(axis=1)]
    for into, name, ensemble in ((members, ENSEMBLE_FINETUNED, ENSEMBLE),
                                 (standardised_members, STANDARDISED_ENSEMBLE_FINETUNED, STANDARDISED_ENSEMBLE)):
        into[FINETUNED] = scores / scores.sum(axis=1, keepdims=True)
        predictions[name] = classes[np.mean(list(into.values()), axis=0).argmax(axis=1)]
        fit_seconds[name] = fit_seconds[ensemble] + fit_seconds[FINETUNED]
    intervals = classification_intervals(y[test], predictions, BASELINE, args.runs)
    table = pd.DataFrame([{"model": name, **classification_scores(y[test], predicted), **intervals[name],
                           "fit_seconds": fit_seconds[name]} for name, predicted in predictions.items()])
    columns = ["model", "macro_f1", "macro_f1_low", "macro_f1_high", "accuracy", f"gain_vs_{BASELINE}", "gain_low",
               "gain_high", "fit_seconds"]
    standardised_gains = []
    for standardised, raw in (("e5 + USE standardised + LR", "e5 + USE + LR"),
                              ("TF-IDF + e5 + USE standardised + LR", "TF-IDF + e5 + USE + LR"),
                              ("MLP over e5 + USE standardised", "MLP over e5 + USE"),
                              (STANDARDISED_ENSEMBLE, ENSEMBLE),
                              (STANDARDISED_ENSEMBLE_FINETUNED, ENSEMBLE_FINETUNED)):
        paired = classification_intervals(y[test], {raw: predictions[raw], standardised: predictions[standardised]},
                                          raw, args.runs)[standardised]
        standardised_gains.append({"standardised": standardised, "against": raw, "macro_f1_gain": paired[f"gain_vs_{raw}"],
                                   "gain_low": paired["gain_low"], "gain_high": paired["gain_high"]})
    RESULTS.write_text(
        "# Telegram news topics: encoders and TF-IDF side by side\n\n"
        f"Reproduce: `.venv/bin/python benchmarks/bench_telegram.py`. 2 CPU cores, no GPU. {len(test)} test posts, "
        f"{len(train)} training posts, 12 classes; macro-F1 and accuracy with 95 % bootstrap intervals ({args.runs} "
        f"resamples of the test posts), and each row's paired macro-F1 gain over `{BASELINE}` (BASELINES.md's best "
        "row, 0.748 there). Fit times exclude embedding (cached).\n\n"
        f"{table[columns].to_markdown(index=False, floatfmt='.3f')}\n\n"
        "Each standardised row against the same model reading e5 + USE as they are (paired macro-F1 gain, the same "
        "resamples):\n\n"
        f"{pd.DataFrame(standardised_gains).to_markdown(index=False, floatfmt='+.3f')}\n")
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
