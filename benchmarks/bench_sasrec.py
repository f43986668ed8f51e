"""SASRec's loss on MovieLens-100k: one sampled negative (the original) against a softmax over every film.

    .venv/bin/python benchmarks/bench_sasrec.py [--data ../shared/data] [--runs 1000]

Leave-last-out as ../shared/BASELINES.md states it (each user's ratings in time order, ties in u.data's
order; every film the user has not rated is ranked), on two protocols: `validation` holds out each user's
second-to-last rating and trains on the ratings before it (where the options were chosen), `test` holds out
the last and trains on every other (the pipeline's split). Models: EASE (λ = 100, the strongest single
baseline), `conf/real`'s `sasrec` and `sasrec_softmax` with their options read from
conf/real/parameters_post_feed.yml, and the softmax at the original's dropout (0.2). HR@5, HR@10 and NDCG@10
with 95 % bootstrap intervals (users resampled, the same draws for every model) and each model's paired
HR@10 and NDCG@10 gain over the original SASRec. Fit seconds on this machine, one run each.
Writes benchmarks/results/sasrec.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import yaml

from socialml.components.evaluation.metrics import bootstrap_intervals
from socialml.components.recsys.recommenders import EASERecommender, Interactions, rank_of
from socialml.components.recsys.sasrec import SASRec

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sasrec.md"
REFERENCE = "sasrec (one sampled negative)"


def sequences(data: Path) -> list[np.ndarray]:
    """Each user's film indices in time order (ties in the file's order)."""
    ratings = pd.read_csv(data / "movielens_100k" / "u.data", sep="\t", names=["user", "item", "rating", "time"])
    ratings = ratings.sort_values("time", kind="stable")
    films = pd.Index(np.unique(ratings["item"]))
    ratings["film"] = films.get_indexer(ratings["item"])
    return [group["film"].to_numpy() for _, group in ratings.groupby("user", sort=True)]


def models() -> dict[str, dict]:
    configured = yaml.safe_load((ROOT / "conf/real/parameters_post_feed.yml").read_text())
    variants = configured["post_feed"]["sources"]["movielens_100k"]["models"]
    original = {k: v for k, v in variants["sasrec"]["generators"]["sasrec"].items() if k != "kind"}
    softmax = {k: v for k, v in variants["sasrec_softmax"]["generators"]["sasrec"].items() if k != "kind"}
    return {REFERENCE: original, "sasrec_softmax (as configured)": softmax,
            "sasrec_softmax at the original's dropout": {**softmax, "dropout": original.get("dropout", 0.2)}}


def per_user(ranks: np.ndarray) -> dict[str, np.ndarray]:
    return {"hr@5": (ranks <= 5).astype(float), "hr@10": (ranks <= 10).astype(float),
            "ndcg@10": np.where(ranks <= 10, 1 / np.log2(ranks + 1), 0.0)}


def evaluate(history: list[np.ndarray], held_out: np.ndarray, n_films: int) -> tuple[dict, dict]:
    """Each model's per-user hits and its fit seconds, trained on ``history``, scored on ``held_out``."""
    rows = np.repeat(np.arange(len(history)), [len(h) for h in history])
    seen = sp.csr_matrix((np.ones(len(rows)), (rows, np.concatenate(history))), shape=(len(history), n_films))
    hits, fit_seconds = {}, {}
    start = time.perf_counter()
    ease = EASERecommender(l2=100.0).fit(Interactions(seen.astype(np.float32).tocsr(), pd.RangeIndex(len(history)),
                                                      pd.RangeIndex(n_films)))
    fit_seconds["ease"] = time.perf_counter() - start
    hits["ease"] = per_user(rank_of(ease.score(np.arange(len(history))), held_out, seen))
    for name, options in models().items():
        start = time.perf_counter()
        model = SASRec(**options).fit(history, n_films)
        fit_seconds[name] = time.perf_counter() - start
        hits[name] = per_user(rank_of(model.score(history), held_out, seen))
        print(f"{name}: fit {fit_seconds[name]:.0f} s, HR@10 {hits[name]['hr@10'].mean():.3f}", flush=True)
    return hits, fit_seconds


def table(hits: dict, fit_seconds: dict, runs: int) -> pd.DataFrame:
    reference = hits[REFERENCE]
    out = []
    for name, scores in hits.items():
        def score(rows: np.ndarray, scores: dict = scores) -> dict[str, float]:
            return {**{k: v[rows].mean() for k, v in scores.items()},
                    **{f"{k} gain": scores[k][rows].mean() - reference[k][rows].mean() for k in ("hr@10", "ndcg@10")}}

        whole = score(np.arange(len(reference["hr@10"])))
        intervals = bootstrap_intervals(score, len(reference["hr@10"]), runs=runs)
        out.append({"model": name, **{k: f"{whole[k]:+.3f} [{lo:+.3f}, {hi:+.3f}]" if "gain" in k else
                                      f"{whole[k]:.3f} [{lo:.3f}, {hi:.3f}]" for k, (lo, hi) in intervals.items()},
                    "fit_s": round(fit_seconds[name], 1)})
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    users = sequences(args.data)
    n_films = int(max(s.max() for s in users)) + 1
    sections = []
    for protocol, cut in (("validation", 2), ("test", 1)):
        history = [s[:-cut] for s in users]
        held_out = np.array([s[-cut] for s in users])
        hits, fit_seconds = evaluate(history, held_out, n_films)
        sections.append(f"## {protocol}: each user's {'second-to-last' if cut == 2 else 'last'} rating held out "
                        f"({len(users)} users, {n_films} films)\n\n"
                        + table(hits, fit_seconds, args.runs).to_markdown(index=False))
    RESULTS.write_text(
        "# SASRec's loss on MovieLens-100k\n\n"
        "Reproduce: `.venv/bin/python benchmarks/bench_sasrec.py`. 2 CPU cores, no GPU. Every film the user has not "
        "rated is ranked; 95 % bootstrap intervals over the users (" + str(args.runs) + " resamples, the same draws "
        "for every model); gains are paired, against the original SASRec. Options as in "
        "conf/real/parameters_post_feed.yml.\n\n" + "\n\n".join(sections) + "\n")
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
