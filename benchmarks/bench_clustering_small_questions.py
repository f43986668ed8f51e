"""Answer clustering on questions of 10 to 25 answers: average linkage against HDBSCAN, with three encoders.

    .venv/bin/python benchmarks/bench_clustering_small_questions.py [--data ../shared/data] [--draws 10]

A survey question often has a few dozen distinct answers (175 of the real survey's 450 have fewer than 30).
Each draw picks k intents of ru_intents_dev (k = 2, 3, 4) and n of their utterances (n = 10, 15, 20, 25);
the draw is clustered as one question by the configured clustering (below `linkage_below` distinct texts:
average linkage of cosine distances cut at `linkage_quantile` of them) and by the same with
`linkage_below: 0` (HDBSCAN at every size, as before 2026-12-06), with the configured encoder (e5 + USE)
and with each of its parts alone. The quantile was chosen on draws of another seed (1: 0.3 / 0.4 / 0.5 gave
NMI 0.620 / 0.664 / 0.686 with e5 + USE); these draws (seed 3) were not looked at before. Paired differences
get 95 % bootstrap intervals (draws resampled). Writes benchmarks/results/clustering_small_questions.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from bench_clustering import ROOT, configured, markdown, ours
from bench_clustering_question_size import drawn_question, paired_gains
from socialml.components.evaluation.metrics import clustering_scores
from socialml.components.text.clustering import ClusteringConfig
from socialml.components.text.encoders import EmbeddingCache, build_encoder

SIZES, GROUPS, SEED = (10, 15, 20, 25), (2, 3, 4), 3
LINKAGE, HDBSCAN = "linkage (configured)", "HDBSCAN at every size"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--draws", type=int, default=10, help="questions drawn per (n, k)")
    args = parser.parse_args()
    encoder, config = configured()
    methods = {LINKAGE: config,
               HDBSCAN: ClusteringConfig(**{**config.__dict__, "clusterer": {**config.clusterer, "linkage_below": 0}})}
    encoders = {"e5 + USE (configured)": encoder, **{part["kind"]: part for part in encoder["parts"]}}
    intents = pd.read_csv(args.data / "ru_intents_dev" / "intents_dev.csv")
    texts, gold = intents["text"].astype(str).to_numpy(), intents["label"].to_numpy()
    rows = []
    for encoder_name, encoder_config in encoders.items():
        cache = EmbeddingCache(build_encoder(encoder_config))
        rng = np.random.default_rng(SEED)  # the same draws for every encoder
        for n in SIZES:
            for k in GROUPS:
                for draw in range(args.draws):
                    picked = drawn_question(rng, gold, n, k)
                    question, truth = texts[picked].tolist(), gold[picked]
                    for method, method_config in methods.items():
                        labels = ours(question, cache.encode, method_config)
                        rows.append({"encoder": encoder_name, "n": n, "k": k, "draw": draw, "method": method,
                                     "clusters": len(set(labels.tolist()) - {-1}), **clustering_scores(truth, labels)})
        print(f"{encoder_name} done", flush=True)
    frame = pd.DataFrame(rows)
    means = (frame.groupby(["encoder", "n", "method"], sort=False)[["clusters", "nmi", "ari", "outlier_share"]].mean()
             .reset_index())
    gains = []
    for encoder_name, own in frame.groupby("encoder", sort=False):
        paired = own.pivot_table(index=["n", "k", "draw"], columns="method", values=["nmi", "ari"])
        means_of = {f"{m}: {name}": paired[(m, method)].mean() for m in ("nmi", "ari")
                    for name, method in (("HDBSCAN", HDBSCAN), ("linkage", LINKAGE))}
        gains.append({"encoder": encoder_name, "draws": len(paired), **means_of,
                      **paired_gains(paired, LINKAGE, HDBSCAN, ("nmi", "ari"))})
    out = ROOT / "benchmarks" / "results" / "clustering_small_questions.md"
    out.write_text(
        "# Answer clustering on questions of 10 to 25 answers: average linkage against HDBSCAN\n\n"
        "Reproduce: `.venv/bin/python benchmarks/bench_clustering_small_questions.py`. 2 CPU cores. "
        f"{args.draws} questions per (n, k) drawn from ru_intents_dev (k of 2, 3, 4 intents, n of their utterances; "
        f"seed {SEED}), the same draws for each encoder; outliers count as one cluster; no sentiment split.\n\n"
        f"Paired differences, linkage less HDBSCAN, over all draws (95 % bootstrap intervals, draws resampled):\n\n"
        f"{markdown(pd.DataFrame(gains))}\n\n"
        f"Means per encoder, size and method:\n\n{markdown(means)}\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
