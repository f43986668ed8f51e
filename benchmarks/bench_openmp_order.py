"""Torch after UMAP in one process: the cost of loading numba's OpenMP runtime before torch's.

    .venv/bin/python benchmarks/bench_openmp_order.py [--runs 3] [--texts 256]

Each run is a fresh process that first reduces 4,200 random vectors with UMAP (beyond 4,096 rows its
nearest neighbours run on numba's parallel pool), then embeds the same short texts with e5 (2 threads).
`umap imported alone` is what any code that imports umap before torch gets; `umap_module()` is the
project's reducer, which loads torch first. Reports the median embedding time of each and their ratio.
Writes benchmarks/results/openmp_order.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "openmp_order.md"
CHILD = """
import json, sys, time
import numpy as np
if sys.argv[1] == "project":
    from socialml.components.text.clustering import umap_module
    umap = umap_module()
else:
    import umap
umap.UMAP(n_components=5, random_state=0, n_jobs=1).fit_transform(np.random.default_rng(0).normal(size=(4_200, 16)))
from socialml.components.text.encoders import build_encoder
encoder = build_encoder({"kind": "e5_small", "num_threads": 2, "batch_size": 64})
texts = [f"ответ номер {i}: приложение иногда зависает при загрузке" for i in range(int(sys.argv[2]))]
start = time.perf_counter()
encoder.encode(texts)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""
ORDERS = {"umap imported alone (numba's OpenMP first)": "alone", "umap_module() (torch's OpenMP first)": "project"}


def embedding_seconds(order: str, texts: int) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, order, str(texts)], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--texts", type=int, default=256)
    args = parser.parse_args()
    seconds = {name: [] for name in ORDERS}
    for run in range(args.runs):  # the orders alternate, so a busy spell on the machine hits both
        for name, order in ORDERS.items():
            seconds[name].append(embedding_seconds(order, args.texts))
            print(run, name, f"{seconds[name][-1]:.1f} s", flush=True)
    baseline = statistics.median(seconds["umap_module() (torch's OpenMP first)"])
    table = pd.DataFrame([{"import order": name, "runs (s)": ", ".join(f"{s:.1f}" for s in values),
                           "median s": statistics.median(values),
                           "× umap_module()": statistics.median(values) / baseline} for name, values in seconds.items()])
    RESULTS.write_text(
        "# Torch after UMAP: the order in which the two OpenMP runtimes load\n\n"
        f"Reproduce: `.venv/bin/python benchmarks/bench_openmp_order.py --runs {args.runs} --texts {args.texts}`. "
        "2 CPU cores. Each run is a fresh process: UMAP on 4,200 random vectors (numba's parallel nearest "
        f"neighbours), then e5 (2 threads) embeds {args.texts} short texts; the table has the embedding time.\n\n"
        f"{table.to_markdown(index=False, floatfmt='.1f')}\n")
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
