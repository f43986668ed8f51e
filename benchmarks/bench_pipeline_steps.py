"""The slow steps of the default `kedro run`, timed at this checkout and at an earlier revision side by side.

    .venv/bin/python benchmarks/bench_pipeline_steps.py --base REV [--runs 3]

Needs a finished `kedro run` (it reads the demo's views, audience targets and predictions under data/).
The base revision is checked out once into benchmarks/.work/ (a git worktree); both trees run on this
checkout's .venv. Each timing is a fresh process (a step's first call in a process is what a run pays),
the two trees alternate so that a busy spell on the machine hits both, and the table has the medians and
their ratio. Steps:

- `first UMAP fit, N texts`: UMAP (as the clustering reduces) on N random 384-d vectors, the process's
  first fit: under 4,096 texts exact neighbours, beyond them pynndescent's.
- `DeepSets fit`: the demo's `deepsets_time2vec` (60 epochs at most, patience 4) on its views and targets.
- `audience comparison`: `compare_audience_models` on the demo's five models' out-of-fold predictions
  (200 bootstrap draws).

Writes benchmarks/results/pipeline_steps.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "pipeline_steps.md"
DATA = ROOT / "data"
AUDIENCE_MODELS = ["majority", "catboost", "item_bag_logreg", "deepsets_time2vec", "stacked_item_bag"]
CHILD = """
import glob, json, sys, time
import numpy as np
import pandas as pd

step, data = sys.argv[1], sys.argv[2]


def newest(folder):  # a versioned Kedro dataset: the latest version's file
    return sorted(glob.glob(f"{folder}/*/*"))[-1]


if step.startswith("umap"):
    from socialml.components.text.clustering import umap_module

    vectors = np.random.default_rng(0).normal(size=(int(step.split("_")[1]), 384)).astype(np.float32)
    start = time.perf_counter()
    umap_module().UMAP(n_components=10, n_neighbors=15, min_dist=0.0, metric="cosine", random_state=0,
                       n_jobs=1).fit_transform(vectors)
elif step == "deepsets":
    from socialml.components.audience.models import DeepSetsAudience

    views = pd.read_parquet(f"{data}/03_primary/demo/views.parquet")
    targets = pd.read_parquet(f"{data}/05_model_input/demo/audience_targets.parquet")
    start = time.perf_counter()
    DeepSetsAudience(epochs=60, patience=4).fit(views, None, targets)
else:
    from socialml.pipelines.audience.nodes import compare_audience_models

    predictions = {m: pd.read_parquet(newest(f"{data}/07_model_output/demo/audience/{m}_predictions.parquet"))
                   for m in sys.argv[3].split(",")}
    targets = pd.read_parquet(f"{data}/05_model_input/demo/audience_targets.parquet")
    start = time.perf_counter()
    compare_audience_models(targets, {"baseline": "item_bag_logreg", "bootstrap_runs": 200}, **predictions)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""
STEPS = {"first UMAP fit, 300 texts": "umap_300", "first UMAP fit, 5,000 texts": "umap_5000",
         "DeepSets fit": "deepsets", "audience comparison": "audience"}


def base_tree(revision: str) -> Path:
    """A worktree of ``revision`` under benchmarks/.work (made once, reused by later runs)."""
    commit = subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    tree = ROOT / "benchmarks" / ".work" / f"base-{commit}"
    if not tree.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=ROOT, check=True,
                       capture_output=True)
    return tree


def step_seconds(tree: Path, child: str, step: str, *arguments: str) -> float:
    """Seconds that ``child`` (a script printing ``{"seconds": ...}`` last) reports for ``step``, run on
    ``tree``'s source."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", child, step, *arguments], cwd=tree, env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def comparison_table(child: str, steps: dict[str, str], base: str, runs: int, *arguments: str) -> pd.DataFrame:
    """Each step timed ``runs`` times at ``base`` and at this checkout, the trees alternating: every run,
    the medians and their ratio."""
    trees = {f"base ({base})": base_tree(base), "this checkout": ROOT}
    base_label, head_label = trees
    rows = []
    for name, step in steps.items():
        seconds = {label: [] for label in trees}
        for run in range(runs):
            for label, tree in trees.items():
                seconds[label].append(step_seconds(tree, child, step, *arguments))
                print(name, label, run, f"{seconds[label][-1]:.1f} s", flush=True)
        medians = {label: statistics.median(values) for label, values in seconds.items()}
        rows.append({"step": name,
                     **{f"{label} runs (s)": ", ".join(f"{v:.1f}" for v in values) for label, values in seconds.items()},
                     **{f"{label} median s": round(median, 2) for label, median in medians.items()},
                     "base / this": round(medians[base_label] / medians[head_label], 1)})
    return pd.DataFrame(rows)


def compare_and_write(results: Path, title: str, child: str, steps: dict[str, str], *arguments: str,
                      needs: str = "after `kedro run`") -> None:
    """The command line's ``--base`` and ``--runs``, the steps' comparison table, written to ``results``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the revision to compare with (a commit, tag or branch)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    table = comparison_table(child, steps, args.base, args.runs, *arguments)
    results.write_text(
        f"# {title}\n\n"
        f"Reproduce ({needs}): `.venv/bin/python benchmarks/{Path(sys.argv[0]).name} --base {args.base} "
        f"--runs {args.runs}`. 2 CPU cores. Each timing is a fresh process; the two trees alternate.\n\n"
        f"{table.to_markdown(index=False)}\n")
    print(results.read_text())


if __name__ == "__main__":
    compare_and_write(RESULTS, "The default run's slow steps, at an earlier revision and at this checkout", CHILD, STEPS,
                      str(DATA), ",".join(AUDIENCE_MODELS))
