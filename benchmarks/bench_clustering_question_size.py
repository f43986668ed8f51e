"""Answer clustering on questions of 12 to 1,000 answers drawn from ru_intents_dev's gold intents.

    .venv/bin/python benchmarks/bench_clustering_question_size.py [--data ../shared/data] [--draws 10]

A survey question has tens to hundreds of answers (the real survey's median is 42), not ru_intents_dev's
5,000. Each draw picks k intents at random and n of their utterances; the draw is clustered as one question
by our clustering (the configured encoder and algorithm), by the same with ``min_cluster_size`` at every
size (``small_question_scale: null``), with UMAP and HDBSCAN from 30 texts, without the cap on a cluster's
share of the texts (``max_cluster_share: null``), with UMAP reading the embeddings as they are
(``standardise: false``), and by BERTopic's default chain. NMI, AMI and ARI are averaged over
the draws of each (n, k); the paired differences over all draws below 900 texts (where the scale changes
anything) get 95 % bootstrap intervals (draws resampled). Writes
benchmarks/results/clustering_question_size.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from bench_clustering import ROOT, UNSTANDARDISED, configured, markdown, ours, varied
from socialml.components.evaluation.metrics import bootstrap_intervals, clustering_scores
from socialml.components.text.clustering import bertopic_default_chain
from socialml.components.text.encoders import EmbeddingCache, build_encoder

QUESTIONS = [(12, 2), (30, 3), (50, 4), (100, 5), (200, 6), (200, 10), (400, 8), (400, 15), (1000, 20)]  # (n, k)
CONFIGURED, FIXED, BERTOPIC = "ours (configured)", "ours, min_cluster_size at every size", "BERTopic chain"
LINKAGE_BELOW_30 = "ours, UMAP and HDBSCAN from 30 texts"  # as configured until the afternoon of 2026-12-06
UNCAPPED = "ours, no max_cluster_share"  # as configured until the evening of 2026-12-06
METRICS = ("nmi", "ami", "ari")


def drawn_question(rng: np.random.Generator, gold: np.ndarray, n: int, k: int) -> np.ndarray:
    """Positions of n texts (fewer if they have fewer) of k gold groups drawn at random: one question."""
    pool = np.flatnonzero(np.isin(gold, rng.choice(np.unique(gold), k, replace=False)))
    return rng.choice(pool, min(n, len(pool)), replace=False)


def paired_gains(paired: pd.DataFrame, ours: str, other: str, metrics) -> dict[str, object]:
    """Mean differences ``ours`` less ``other`` per metric over the draws (rows of ``paired``: columns (metric,
    method)), each with its 95 % bootstrap interval (draws resampled)."""
    differences = {m: (paired[(m, ours)] - paired[(m, other)]).to_numpy() for m in metrics}
    intervals = bootstrap_intervals(lambda rows: {m: float(d[rows].mean()) for m, d in differences.items()},
                                    len(paired), runs=2000)
    return {column: value for m in metrics for column, value in (
        (f"{m} difference", differences[m].mean()), (f"{m} 95% CI", f"[{intervals[m][0]:+.3f}, {intervals[m][1]:+.3f}]"))}


def draw_arguments() -> argparse.Namespace:
    """The shared data's folder and how many questions to draw per (n, k)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--draws", type=int, default=10, help="questions drawn per (n, k)")
    return parser.parse_args()


def main() -> None:
    args = draw_arguments()
    encoder, config = configured()
    fixed = varied(config, clusterer={"small_question_scale": None})
    below_30 = varied(config, reducer={"min_texts": 30}, clusterer={"linkage_below": 30})
    uncapped = varied(config, clusterer={"max_cluster_share": None})
    as_they_are = varied(config, reducer={"standardise": False})
    methods = {CONFIGURED: config, FIXED: fixed, LINKAGE_BELOW_30: below_30, UNCAPPED: uncapped,
               UNSTANDARDISED: as_they_are, BERTOPIC: None}
    cache = EmbeddingCache(build_encoder(encoder))
    intents = pd.read_csv(args.data / "ru_intents_dev" / "intents_dev.csv")
    texts, gold = intents["text"].astype(str).to_numpy(), intents["label"].to_numpy()
    rng = np.random.default_rng(0)
    rows = []
    for n, k in QUESTIONS:
        for draw in range(args.draws):
            picked = drawn_question(rng, gold, n, k)
            question, truth = texts[picked].tolist(), gold[picked]
            for method, method_config in methods.items():
                labels = (bertopic_default_chain(cache.encode(question)) if method_config is None
                          else ours(question, cache.encode, method_config))
                rows.append({"n": n, "k": k, "draw": draw, "method": method,
                             "clusters": len(set(labels.tolist()) - {-1}), **clustering_scores(truth, labels)})
        print(f"n={n} k={k} done", flush=True)
    frame = pd.DataFrame(rows)
    means = (frame.groupby(["n", "k", "method"], sort=False)[["clusters", *METRICS, "outlier_share"]].mean()
             .reset_index())
    small = frame[frame["n"] < 900].pivot_table(index=["n", "k", "draw"], columns="method", values=list(METRICS))
    gains = [{"ours (configured) against": other, "draws": len(small), **paired_gains(small, CONFIGURED, other, METRICS)}
             for other in (BERTOPIC, FIXED, LINKAGE_BELOW_30, UNCAPPED, UNSTANDARDISED)]
    out = ROOT / "benchmarks" / "results" / "clustering_question_size.md"
    out.write_text(
        "# Answer clustering on questions of 12 to 1,000 answers\n\n"
        "Reproduce: `.venv/bin/python benchmarks/bench_clustering_question_size.py`. 2 CPU cores. Each row is the "
        f"mean over {args.draws} questions drawn from ru_intents_dev: k intents at random, n of their utterances "
        "(the configured encoder, embeddings cached). Outliers count as one cluster; no sentiment split.\n\n"
        f"{markdown(means)}\n\n"
        "Paired differences over every draw below 900 texts, 95 % bootstrap intervals (draws resampled):\n\n"
        f"{markdown(pd.DataFrame(gains))}\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
