"""The MLP topic classifier and its ensemble with the TF-IDF + embedding heads, on sensitive topics.

    .venv/bin/python benchmarks/bench_topic_ensemble.py [--data ../shared/data] [--encoders concat,e5_small]

Protocol of ../shared/BASELINES.md (as bench_text.py): train on v1 minus the texts of v2_val and v2_test,
early stopping and per-label thresholds on v2_val, scores on v2_test. For each encoder it fits the
ensemble of ``conf/real`` (``embedding_tfidf_logreg`` and ``embedding_mlp``, equal weights) once, and
scores the ensemble and each member (thresholds tuned on v2_val for each), with 95 % bootstrap intervals
over the test texts and the paired interval of the ensemble's gain over ``embedding_tfidf_logreg``.
Embeddings come from the project's cache (``concat`` is e5_small and USE side by side, as bench_text.py
computes it). Writes benchmarks/results/topic_ensemble.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench_text import ENCODERS, SENSITIVE_LABELS, concat_cached, load, sensitive_parts
from socialml.components.evaluation.metrics import bootstrap_intervals, multilabel_f1
from socialml.components.text.encoders import EmbeddingCache, build_encoder
from socialml.components.text.topics import best_thresholds, build_topic_classifier

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "topic_ensemble.md"
ENSEMBLE = {"kind": "ensemble", "members": {
    "embedding_tfidf_logreg": {"kind": "head", "features": "both", "head": "logreg", "c": 4.0},
    "embedding_mlp": {"kind": "mlp"}}}


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
        started = time.perf_counter()
        ensemble = build_topic_classifier(ENSEMBLE).fit(train, x_train, y_train, SENSITIVE_LABELS,
                                                        validation=(val, x_val, y_val))
        fit_s = time.perf_counter() - started
        predicted = {}
        for name, model in [*ensemble.members.items(), ("ensemble (mean of both)", ensemble)]:
            thresholds = best_thresholds(y_val, model.predict_proba(val, x_val).to_numpy())
            predicted[name] = model.predict_proba(test, x_test).to_numpy() >= thresholds
            intervals = bootstrap_intervals(lambda rows_: multilabel_f1(y_test[rows_], predicted[name][rows_]),
                                            len(test))
            scores = multilabel_f1(y_test, predicted[name])
            rows.append({"encoder": encoder, "model": name, **{
                metric: f"{scores[metric]:.3f} [{intervals[metric][0]:.3f}, {intervals[metric][1]:.3f}]"
                for metric in ("micro_f1", "macro_f1")}})
        rows[-1]["fit_s (both members)"] = round(fit_s, 1)

        def gain(rows_: np.ndarray) -> dict[str, float]:
            ours = multilabel_f1(y_test[rows_], predicted["ensemble (mean of both)"][rows_])
            base = multilabel_f1(y_test[rows_], predicted["embedding_tfidf_logreg"][rows_])
            return {metric: ours[metric] - base[metric] for metric in ours}
        difference, intervals = gain(np.arange(len(test))), bootstrap_intervals(gain, len(test))
        gains.append({"encoder": encoder, **{
            f"{metric} gain": f"{difference[metric]:+.3f} [{intervals[metric][0]:+.3f}, {intervals[metric][1]:+.3f}]"
            for metric in ("micro_f1", "macro_f1")}})
        print(pd.DataFrame(rows).to_string(), pd.DataFrame(gains).to_string(), sep="\n", flush=True)
    RESULTS.write_text(
        "# Sensitive topics: the MLP topic classifier and its ensemble\n\n"
        "Reproduce: `.venv/bin/python benchmarks/bench_topic_ensemble.py`. 2 CPU cores, no GPU. v2_test "
        f"({len(test)} texts, 18 labels); micro/macro-F1 with 95 % bootstrap intervals over the test texts "
        "(200 resamples); fit time excludes embedding.\n\n"
        f"{pd.DataFrame(rows).astype(object).fillna('').to_markdown(index=False)}\n\n"
        "Ensemble minus `embedding_tfidf_logreg`, paired over the same resamples:\n\n"
        f"{pd.DataFrame(gains).to_markdown(index=False)}\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
