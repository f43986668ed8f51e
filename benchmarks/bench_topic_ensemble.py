"""The MLP topic classifier and its ensembles with the TF-IDF + embedding heads and TF-IDF alone, on sensitive topics.

    .venv/bin/python benchmarks/bench_topic_ensemble.py [--data ../shared/data] [--encoders concat,e5_small]

Protocol of ../shared/BASELINES.md (as bench_text.py): train on v1 minus the texts of v2_val and v2_test,
early stopping and per-label thresholds on v2_val, scores on v2_test. For each encoder it fits the
members of ``conf/real``'s ensembles once each (``embedding_tfidf_logreg``, ``embedding_mlp``,
``tfidf_logreg``, ``finetuned_e5_top2``, and the first two reading the embeddings standardised), and scores
each member and the equal-weight means of the first two, the first three and all four (and of the
standardised three and four), with 95 % bootstrap intervals over the test texts. Each is scored twice: with
per-label thresholds tuned on v2_val, and with those thresholds shrunk toward one common cut by the share
that cross-validation on v2_val picks (``topics.threshold_shrinkage: cv``). Paired intervals give each
ensemble's gain over ``embedding_tfidf_logreg``, each model's gain from the shrinkage, and each standardised
model's gain over the same model reading the embeddings as they are.
Embeddings come from the project's cache (``concat`` is e5_small and USE side by side, as bench_text.py
computes it). Writes benchmarks/results/topic_ensemble.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from bench_text import ENCODERS, SENSITIVE_LABELS, concat_cached, load, sensitive_parts
from socialml.components.evaluation.metrics import bootstrap_intervals, multilabel_f1
from socialml.components.text.encoders import EmbeddingCache, build_encoder
from socialml.components.text.topics import best_thresholds, build_topic_classifier, cross_validated_shrinkage

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "topic_ensemble.md"
REAL_MODELS = yaml.safe_load((ROOT / "conf/real/parameters_topics.yml").read_text())["topics"]["models"]
# conf/real's members as configured there (the fine-tuned e5: its top two layers trained, the rest frozen).
ENSEMBLE = {"kind": "ensemble", "members": {name: REAL_MODELS[name] for name in (
    "embedding_tfidf_logreg", "embedding_mlp", "tfidf_logreg", "finetuned_e5_top2",
    "embedding_tfidf_logreg_standardised", "embedding_mlp_standardised")}}
REFERENCE = "embedding_tfidf_logreg"
FOUR = ["embedding_tfidf_logreg", "embedding_mlp", "tfidf_logreg", "finetuned_e5_top2"]
STANDARDISED_FOUR = ["embedding_tfidf_logreg_standardised", "embedding_mlp_standardised", "tfidf_logreg",
                     "finetuned_e5_top2"]
ENSEMBLES = {"ensemble (mean of the first two)": FOUR[:2],
             "ensemble (mean of the first three)": FOUR[:3],
             "ensemble (mean of all four)": FOUR,
             "standardised ensemble (mean of three)": STANDARDISED_FOUR[:3],
             "standardised ensemble (mean of four)": STANDARDISED_FOUR}
# Each model reading the embeddings standardised against the same reading them as they are.
STANDARDISED = {"embedding_tfidf_logreg_standardised": "embedding_tfidf_logreg",
                "embedding_mlp_standardised": "embedding_mlp",
                "standardised ensemble (mean of three)": "ensemble (mean of the first three)",
                "standardised ensemble (mean of four)": "ensemble (mean of all four)"}


def vectors(encoder: str, texts: list[str]) -> np.ndarray:
    if encoder == "concat":
        return concat_cached(["e5_small", "use"], texts)
    return EmbeddingCache(build_encoder(ENCODERS[encoder])).encode(texts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--encoders", default="concat,e5_small")
    args = parser.parse_args()
    parts = sensitive_parts(load(args.data)["sensitive"])
    (train, y_train), (val, y_val), (test, y_test) = (parts[k] for k in ("v1_crowdsource_only", "v2_val", "v2_test"))
    rows, gains = [], []
    for encoder in args.encoders.split(","):
        x_train, x_val, x_test = (vectors(encoder, texts) for texts in (train, val, test))
        probabilities, fit_s = {}, {}
        for name, spec in ENSEMBLE["members"].items():
            started = time.perf_counter()
            member = build_topic_classifier(spec).fit(train, x_train, y_train, SENSITIVE_LABELS,
                                                      validation=(val, x_val, y_val))
            fit_s[name] = time.perf_counter() - started
            probabilities[name] = (member.predict_proba(val, x_val).to_numpy(),
                                   member.predict_proba(test, x_test).to_numpy())
        for name, members in ENSEMBLES.items():
            probabilities[name] = tuple(np.mean([probabilities[m][part] for m in members], axis=0) for part in (0, 1))
            fit_s[name] = sum(fit_s[m] for m in members)
        predicted = {}
        for name, (on_val, on_test) in probabilities.items():
            for thresholds, shrinkage in (("per label", 0.0), ("cv", cross_validated_shrinkage(y_val, on_val))):
                key = (name, thresholds)
                predicted[key] = on_test >= best_thresholds(y_val, on_val, shrinkage)
                intervals = bootstrap_intervals(lambda rows_: multilabel_f1(y_test[rows_], predicted[key][rows_]),
                                                len(test))
                scores = multilabel_f1(y_test, predicted[key])
                rows.append({"encoder": encoder, "model": name, "thresholds": thresholds, "shrinkage": shrinkage, **{
                    metric: f"{scores[metric]:.3f} [{intervals[metric][0]:.3f}, {intervals[metric][1]:.3f}]"
                    for metric in ("micro_f1", "macro_f1")}, "fit_s (members summed)": round(fit_s[name], 1)})
        comparisons = [(f"{name}, {thresholds}", (name, thresholds), (REFERENCE, "per label"))
                       for name in ENSEMBLES for thresholds in ("per label", "cv")]
        comparisons += [(f"{name}, cv against per label", (name, "cv"), (name, "per label")) for name in probabilities]
        comparisons += [(f"{name} against {raw}, {thresholds}", (name, thresholds), (raw, thresholds))
                        for name, raw in STANDARDISED.items() for thresholds in ("per label", "cv")]
        for title, ours_key, base_key in comparisons:
            def gain(rows_: np.ndarray, ours_key=ours_key, base_key=base_key) -> dict[str, float]:
                ours = multilabel_f1(y_test[rows_], predicted[ours_key][rows_])
                base = multilabel_f1(y_test[rows_], predicted[base_key][rows_])
                return {metric: ours[metric] - base[metric] for metric in ours}
            difference, intervals = gain(np.arange(len(test))), bootstrap_intervals(gain, len(test))
            gains.append({"encoder": encoder, "comparison": title, **{
                f"{metric} gain":
                    f"{difference[metric]:+.3f} [{intervals[metric][0]:+.3f}, {intervals[metric][1]:+.3f}]"
                for metric in ("micro_f1", "macro_f1")}})
        print(pd.DataFrame(rows).to_string(), pd.DataFrame(gains).to_string(), sep="\n", flush=True)
    RESULTS.write_text(
        "# Sensitive topics: the MLP topic classifier and its ensembles\n\n"
        f"Reproduce: `.venv/bin/python benchmarks/bench_topic_ensemble.py --encoders {args.encoders}`. 2 CPU cores, "
        "no GPU. v2_test "
        f"({len(test)} texts, 18 labels); micro/macro-F1 with 95 % bootstrap intervals over the test texts "
        "(200 resamples); fit times exclude embedding (the fine-tuned model embeds nothing in advance: its time is all its own).\n\n"
        f"{pd.DataFrame(rows).astype(object).fillna('').to_markdown(index=False)}\n\n"
        f"Each ensemble minus `{REFERENCE}` with per-label thresholds, each model with thresholds shrunk as "
        "CV on v2_val picks minus the same model with per-label thresholds, and each model reading e5 + USE "
        "standardised (`standardise: true`) minus the same reading them as they are, paired over the same "
        "resamples:\n\n"
        f"{pd.DataFrame(gains).to_markdown(index=False)}\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
