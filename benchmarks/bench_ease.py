"""EASE's fit: the inverse over the interacted items by Cholesky, against the inverse over every item by LU.

    .venv/bin/python benchmarks/bench_ease.py [--data ../shared/data] [--runs 5]

`before` is the closed form as it was computed until 2026-12-04: the Gram matrix of every item in the
universe, inverted with `np.linalg.inv`. `now` is `EASERecommender.fit`: items without an interaction have
exactly zero weights, so only the interacted items' block is inverted, through its Cholesky factor. Both on
karpov_social's likes (the feed's item universe is every post of the log, most never liked) and on
MovieLens-100k (every film rated). Reports the median fit time of each, their ratio, and the largest
difference between the two models' scores (they are the same model). Writes benchmarks/results/ease.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from socialml.components.recsys.recommenders import EASERecommender, Interactions

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ease.md"
L2 = 100.0


def every_item_by_lu(data: Interactions) -> np.ndarray:
    gram = (data.matrix.T @ data.matrix).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += L2
    precision = np.linalg.inv(gram)
    weights = -precision / np.diag(precision)
    np.fill_diagonal(weights, 0)
    return weights.astype(np.float32)


def data_sets(data: Path) -> dict[str, Interactions]:
    feed = pd.read_csv(data / "karpov_social" / "feed_data_sample.csv")
    likes = feed[feed["action"] == "like"]
    ratings = pd.read_csv(data / "movielens_100k" / "u.data", sep="\t", names=["user", "item", "rating", "time"])
    return {
        "karpov_social likes (items: every post in the log)":
            Interactions.from_pairs(likes["user_id"], likes["post_id"], item_ids=pd.Index(np.unique(feed["post_id"]))),
        "movielens_100k ratings": Interactions.from_pairs(ratings["user"], ratings["item"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for name, data in data_sets(args.data).items():
        times: dict[str, list[float]] = {"before": [], "now": []}
        for _ in range(args.runs):  # alternating, so that a slower minute of the machine hits both
            start = time.perf_counter()
            weights = every_item_by_lu(data)
            times["before"].append(time.perf_counter() - start)
            start = time.perf_counter()
            model = EASERecommender(l2=L2).fit(data)
            times["now"].append(time.perf_counter() - start)
        users = np.arange(data.matrix.shape[0])
        gap = float(np.abs(model.score(users) - np.asarray(data.matrix @ weights)).max())
        before, now = statistics.median(times["before"]), statistics.median(times["now"])
        rows.append({"data": name, "items": data.matrix.shape[1], "interacted items": len(model.interacted_),
                     "before runs (s)": ", ".join(f"{t:.2f}" for t in times["before"]),
                     "now runs (s)": ", ".join(f"{t:.2f}" for t in times["now"]),
                     "before median s": before, "now median s": now, "before / now": before / now,
                     "max |score difference|": gap})
        print(rows[-1], flush=True)
    RESULTS.write_text(
        "# EASE's fit: the interacted items' block by Cholesky against every item by LU\n\n"
        f"Reproduce: `.venv/bin/python benchmarks/bench_ease.py --runs {args.runs}`. 2 CPU cores; l2 = {L2:g}; "
        "the two fits alternate in each run.\n\n"
        f"{pd.DataFrame(rows).to_markdown(index=False, floatfmt='.3g')}\n")
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
