"""Answer clustering on questions of 10 to 25 answers: average linkage against HDBSCAN, with three encoders.

    .venv/bin/python benchmarks/bench_clustering_small_questions.py [--data ../shared/data] [--draws 10]

A survey question often has a few dozen distinct answers (175 of the real survey's 450 have fewer than 30).
Each draw picks k intents of ru_intents_dev (k = 2, 3, 4) and n of their utterances (n = 10, 15, 20, 25);
the draw is clustered as one question by the configured clustering (below `linkage_below` distinct texts:
average linkage of cosine distances, the tree cut at the one of `linkage_quantiles` of them whose groups
have the highest silhouette, of the cuts that leave two clusters), by the same cut at the median distance
always (`linkage_quantiles: [0.5]`, as configured early on 2026-12-06), and with `linkage_below: 0`
(HDBSCAN at every size, as before), with the configured encoder (e5 + USE) and with each of its parts
alone. The median
was chosen on draws of seed 1 (0.3 / 0.4 / 0.5 gave NMI 0.620 / 0.664 / 0.686 with e5 + USE), and so were the
silhouette's quantiles (0.3 to 0.7: NMI +0.068 [+0.032, +0.104] over the median there; 0.2 to 0.7 +0.055, 0.1
to 0.8 +0.054); these draws are seed 3. Paired differences get 95 % bootstrap intervals (draws resampled).
Writes benchmarks/results/clustering_small_questions.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench_clustering import ROOT, configured, markdown, ours, varied
from bench_clustering_question_size import draw_arguments, drawn_question, paired_gains
from socialml.components.evaluation.metrics import clustering_scores
from socialml.components.text.encoders import EmbeddingCache, build_encoder

SIZES, GROUPS, SEED = (10, 15, 20, 25), (2, 3, 4), 3
LINKAGE, MEDIAN, HDBSCAN = "linkage, silhouette cut (configured)", "linkage, median cut", "HDBSCAN at every size"


def main() -> None:
    args = draw_arguments()
    encoder, config = configured()
    methods = {LINKAGE: config, MEDIAN: varied(config, clusterer={"linkage_quantiles": [0.5]}),
               HDBSCAN: varied(config, clusterer={"linkage_below": 0})}
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
                    for name, method in (("HDBSCAN", HDBSCAN), ("median", MEDIAN), ("silhouette", LINKAGE))}
        for against in (MEDIAN, HDBSCAN):
            gains.append({"encoder": encoder_name, "against": against, "draws": len(paired), **means_of,
                          **paired_gains(paired, LINKAGE, against, ("nmi", "ari"))})
    out = ROOT / "benchmarks" / "results" / "clustering_small_questions.md"
    out.write_text(
        "# Answer clustering on questions of 10 to 25 answers: average linkage's cuts against HDBSCAN\n\n"
        "Reproduce: `.venv/bin/python benchmarks/bench_clustering_small_questions.py`. 2 CPU cores. "
        f"{args.draws} questions per (n, k) drawn from ru_intents_dev (k of 2, 3, 4 intents, n of their utterances; "
        f"seed {SEED}), the same draws for each encoder; outliers count as one cluster; no sentiment split.\n\n"
        f"Paired differences, the configured silhouette cut less the median cut and less HDBSCAN, over all draws "
        f"(95 % bootstrap intervals, draws resampled):\n\n"
        f"{markdown(pd.DataFrame(gains))}\n\n"
        f"Means per encoder, size and method:\n\n{markdown(means)}\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
