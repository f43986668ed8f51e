"""The cost of one user's viewing history, the way an audience model computes it for a request.

    .venv/bin/python benchmarks/bench_viewer_history.py [--views 30] [--runs 5] [--calls 60]

``features.viewer_history`` on one user's views (a catalogue of 1,000 items in 12 categories) on the
in-process DuckDB engine: the median time of ``--calls`` calls, for each of ``--runs`` runs, and the median
of the runs. To compare with another version of the code, run the same command in its checkout (for the
pandas version it replaced: ``git worktree add /tmp/before 67af2be`` and run this file there with
``PYTHONPATH=/tmp/before/src``), one after the other on an idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from socialml.components.data.features import viewer_history


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--views", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=60)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    items = pd.DataFrame({"item_id": np.arange(1000), "categories": [[f"c{i % 12}"] for i in range(1000)]})
    views = pd.DataFrame({"user_id": 7, "item_id": rng.integers(0, 1000, args.views),
                          "timestamp": pd.date_range("2024-01-01", periods=args.views, freq="5h"),
                          "watch_seconds": rng.random(args.views) * 1000, "rating": np.nan})
    viewer_history(views, items)  # the first call opens the connection
    medians = []
    for _ in range(args.runs):
        times = []
        for _ in range(args.calls):
            start = time.perf_counter()
            viewer_history(views, items)
            times.append(time.perf_counter() - start)
        medians.append(statistics.median(times) * 1000)
    print(f"one user's {args.views} views: median ms per call in each run {[round(m, 1) for m in medians]}, "
          f"median {statistics.median(medians):.1f}")


if __name__ == "__main__":
    main()
