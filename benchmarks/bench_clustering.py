"""Answer clustering against gold meaning groups, ours next to BERTopic's chain and k-means told k.

    .venv/bin/python benchmarks/bench_clustering.py [--data ../shared/data] [--runs 200]

Writes benchmarks/results/clustering.md with two tables:
1. ru_intents_dev (5,000 short Russian utterances, 67 gold intents) clustered as the answers to one
   question without being told k: our clustering (the project's configured encoder and algorithm) with
   each encoder, BERTopic's default chain (UMAP 5-d, HDBSCAN min_cluster_size 10, outliers kept) with
   each encoder, and k-means told the true k; NMI, AMI and ARI with 95 % bootstrap intervals (texts
   resampled), the paired difference of ours against the best baseline, fit times, and ours (with and without
   UMAP's input standardised) and the chain over ten UMAP seeds;
2. 20,000 survey answers pooled across questions, gold = question_id (the protocol of ../shared/BASELINES.md):
   BERTopic's chain at its default and a coarser min_cluster_size, ours configured and at two finer ones, and
   each of ours against the chain nearest to it in number of clusters (NMI rises with the number of clusters;
   AMI, NMI adjusted for chance, does not).
Outliers count as one cluster. Embeddings go through the project's cache.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from socialml.components.evaluation.metrics import bootstrap_intervals, clustering_scores
from socialml.components.text.clustering import ClusteringConfig, bertopic_default_chain, cluster_texts
from socialml.components.text.encoders import EmbeddingCache, build_encoder
from socialml.components.text.preprocess import normalise

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("nmi", "ami", "ari")
UNSTANDARDISED = "ours, embeddings as they are (standardise: false)"
SINGLE = {"e5_small": {"kind": "e5_small", "num_threads": 2, "batch_size": 64}, "use": {"kind": "use", "threads": 2}}


def varied(config: ClusteringConfig, reducer: dict | None = None, clusterer: dict | None = None) -> ClusteringConfig:
    """``config`` with some of its reducer's and clusterer's options changed."""
    return dataclasses.replace(config, reducer={**config.reducer, **(reducer or {})},
                               clusterer={**config.clusterer, **(clusterer or {})})


def configured() -> tuple[dict, ClusteringConfig]:
    """The clustering encoder and algorithm of conf/base, as `kedro run` uses them."""
    encoders = yaml.safe_load((ROOT / "conf/base/parameters_text_embedding.yml").read_text())["text_embedding"]
    params = yaml.safe_load((ROOT / "conf/base/parameters_clustering.yml").read_text())["clustering"]
    return encoders["clustering_encoder"], ClusteringConfig.from_params(params["algorithm"])


def ours(texts: list[str], vectors_of, config: ClusteringConfig) -> np.ndarray:
    """The project's path: distinct normalised texts clustered once, weighted by their count."""
    normalised = pd.Series([normalise(t) for t in texts])
    counts = normalised.value_counts(sort=False)
    result = cluster_texts(vectors_of(counts.index.tolist()), counts.to_numpy(float), config)
    return normalised.map(pd.Series(result.labels, index=counts.index)).to_numpy()


def kmeans_told_k(vectors: np.ndarray, k: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=4, random_state=0).fit_predict(vectors)


def timed(fit) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    labels = fit()
    return labels, time.perf_counter() - start


def scored(method: str, truth: np.ndarray, labels: np.ndarray, fit_s: float, runs: int) -> dict:
    point = clustering_scores(truth, labels)
    intervals = bootstrap_intervals(lambda rows: clustering_scores(truth[rows], labels[rows]), len(truth), runs)
    return {"method": method, "fit_s": fit_s, "clusters": len(set(labels.tolist()) - {-1}),
            **{column: value for metric in METRICS
               for column, value in ((metric, point[metric]), (f"{metric} 95% CI", _interval(intervals[metric])))},
            "outlier_share": point["outlier_share"]}


def paired_differences(truth: np.ndarray, labels_of: dict[str, np.ndarray], pairs: list[tuple[str, str]],
                       runs: int) -> pd.DataFrame:
    """Each (ours, against) pair's metric differences with the paired bootstrap interval (the same resamples)."""
    rows = []
    for mine, other in pairs:
        def difference(rows: np.ndarray) -> dict[str, float]:
            ours_, theirs = (clustering_scores(truth[rows], labels_of[name][rows]) for name in (mine, other))
            return {metric: ours_[metric] - theirs[metric] for metric in METRICS}
        full, intervals = difference(np.arange(len(truth))), bootstrap_intervals(difference, len(truth), runs)
        rows.append({"ours": mine, "against": other, **{column: value for metric in METRICS for column, value in (
            (f"{metric} difference", full[metric]), (f"{metric} 95% CI", _interval(intervals[metric])))}})
    return pd.DataFrame(rows)


def _interval(bounds: tuple[float, float]) -> str:
    return f"[{bounds[0]:.3f}, {bounds[1]:.3f}]"


def intents_table(data: Path, runs: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    frame = pd.read_csv(data / "ru_intents_dev" / "intents_dev.csv")
    texts, truth = frame["text"].astype(str).tolist(), frame["label"].to_numpy()
    encoder_config, config = configured()
    encoders = {**SINGLE, "e5_small + use (configured)": encoder_config}
    caches = {name: EmbeddingCache(build_encoder(spec)) for name, spec in encoders.items()}
    rows, labels_of = [], {}
    for name, cache in caches.items():
        vectors = cache.encode([normalise(t) for t in texts])
        for method, fit in ((f"ours, {name}", lambda: ours(texts, cache.encode, config)),
                            (f"BERTopic chain, {name}", lambda: bertopic_default_chain(vectors)),
                            (f"k-means told k={len(set(truth))}, {name}", lambda: kmeans_told_k(vectors, len(set(truth))))):
            labels, fit_s = timed(fit)
            labels_of[method] = labels
            rows.append(scored(method, truth, labels, fit_s, runs))
    table = pd.DataFrame(rows)
    mine = "ours, e5_small + use (configured)"
    baselines = table[table["method"].str.startswith("BERTopic")]
    best = baselines.sort_values("nmi", ascending=False)["method"].iloc[0]
    gains = paired_differences(truth, labels_of, [(mine, best)], runs)
    seeds = []
    cache = caches["e5_small + use (configured)"]
    vectors = cache.encode([normalise(t) for t in texts])
    for seed in range(10):
        seeded = varied(config, reducer={"seed": seed})
        as_they_are = varied(config, reducer={"seed": seed, "standardise": False})
        for method, fit in (("ours", lambda: ours(texts, cache.encode, seeded)),
                            (UNSTANDARDISED, lambda: ours(texts, cache.encode, as_they_are)),
                            ("BERTopic chain", lambda: bertopic_default_chain(vectors, seed))):
            labels, fit_s = timed(fit)
            seeds.append({"umap seed": seed, "method": method, "fit_s": fit_s, **clustering_scores(truth, labels)})
    seeds = pd.DataFrame(seeds)
    medians = seeds.groupby("method")[["fit_s", *METRICS, "outlier_share"]].median().reset_index()
    per_seed = seeds.pivot(index="umap seed", columns="method", values=list(METRICS))
    differences = {m: (per_seed[(m, "ours")] - per_seed[(m, UNSTANDARDISED)]).to_numpy() for m in METRICS}
    intervals = bootstrap_intervals(lambda rows: {m: float(np.median(d[rows])) for m, d in differences.items()},
                                    len(per_seed), runs=2000)
    seed_gain = pd.DataFrame([{"ours": "ours", "against": UNSTANDARDISED, **{
        column: value for m in METRICS for column, value in ((f"{m} median difference", np.median(differences[m])),
                                                            (f"{m} 95% CI", _interval(intervals[m])))}}])
    return (table, gains, pd.concat([seeds, medians.assign(**{"umap seed": "median"})], ignore_index=True),
            seed_gain)


def survey_table(data: Path, runs: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """BERTopic's chain (its default and a coarser setting) and ours (configured and two finer settings): NMI
    rises with the number of clusters, so each of ours is also compared with the chain at about its granularity."""
    survey = pd.read_csv(data / "survey_answers_ru" / "survey_answers.csv").iloc[:20_000]
    texts, truth = survey["answer"].astype(str).tolist(), survey["question_id"].to_numpy()
    encoder_config, config = configured()
    e5 = EmbeddingCache(build_encoder(SINGLE["e5_small"]))
    configured_cache = EmbeddingCache(build_encoder(encoder_config))
    configured_cache.encode(sorted({normalise(t) for t in texts}))  # embedding is not part of the fit time
    configured_size = config.clusterer["min_cluster_size"]
    methods = {f"BERTopic chain, e5_small, min_cluster_size {size}{' (its default)' if size == 10 else ''}":
               lambda size=size: bertopic_default_chain(e5.encode(texts), min_cluster_size=size) for size in (10, 20)}
    configured_mark = {configured_size: " (configured)"}
    methods.update({f"ours, e5_small + use, min_cluster_size {size}{configured_mark.get(size, '')}":
                    lambda size=size: ours(texts, configured_cache.encode,
                                           varied(config, clusterer={"min_cluster_size": size}))
                    for size in (configured_size, 8, 5)})
    rows, labels_of = [], {}
    for method, fit in methods.items():
        labels_of[method], fit_s = timed(fit)
        rows.append(scored(method, truth, labels_of[method], fit_s, runs))
    table = pd.DataFrame(rows)
    by_clusters = table.set_index("method")["clusters"]
    bertopic, mine = list(methods)[:2], list(methods)[2:]
    pairs = [(name, min(bertopic, key=lambda other: abs(by_clusters[other] - by_clusters[name]))) for name in mine]
    pairs.insert(1, (mine[0], bertopic[0]))
    return table, paired_differences(truth, labels_of, pairs, runs)


def markdown(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, floatfmt=".3f")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--runs", type=int, default=200, help="bootstrap resamples")
    args = parser.parse_args()
    # Compile UMAP's kernels before any timing (beyond 4,096 rows it finds neighbours with pynndescent).
    warm = np.random.default_rng(0).normal(size=(4_200, 16))
    bertopic_default_chain(warm)
    cluster_texts(warm / np.linalg.norm(warm, axis=1, keepdims=True), np.ones(len(warm)), configured()[1])
    intents, gains, seeds, seed_gain = intents_table(args.data, args.runs)
    survey, survey_gains = survey_table(args.data, args.runs)
    out = ROOT / "benchmarks" / "results" / "clustering.md"
    out.write_text(
        "# Answer clustering against gold groups\n\n"
        "Reproduce: `.venv/bin/python benchmarks/bench_clustering.py`. 2 CPU cores, no GPU. Outliers count as one "
        f"cluster; 95 % intervals from {args.runs} bootstrap resamples of the texts, centred on the full set's "
        "value (a text drawn twice agrees with itself in both partitions and raises NMI, AMI and ARI; the resamples' "
        "spread is kept, their bias is not). Fit time excludes embedding "
        "and is one run on a machine that may be busy. "
        "Our clustering here has no sentiment split (the benchmark has no sentiment model; `kedro run` also "
        "splits clusters of mixed sentiment).\n\n"
        "## ru_intents_dev: 5,000 utterances as one question, k not given (67 gold intents)\n\n"
        f"{markdown(intents)}\n\n"
        "Ours against the best BERTopic chain, paired bootstrap of the difference:\n\n"
        f"{markdown(gains)}\n\n"
        "Ours (as configured: UMAP reads each dimension standardised over the texts; and with the embeddings as they "
        "are, `standardise: false`) and BERTopic's chain over ten UMAP seeds (configured encoder), with medians and "
        "the paired difference of the medians' two rows of ours (95 % interval, seeds resampled):\n\n"
        f"{markdown(seeds)}\n\n"
        f"{markdown(seed_gain)}\n\n"
        "## 20,000 survey answers pooled across questions (gold: question_id)\n\n"
        f"{markdown(survey)}\n\n"
        "Each of ours against the BERTopic chain nearest to it in number of clusters (and the configured one against "
        "BERTopic's default), paired bootstrap of the difference:\n\n"
        f"{markdown(survey_gains)}\n"
    )
    print(out.read_text())


if __name__ == "__main__":
    main()
