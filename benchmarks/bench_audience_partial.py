"""Audience with partly labelled users: does each target learn from the users who lack the other?

    .venv/bin/python benchmarks/bench_audience_partial.py [--data ../shared/data] [--runs 1000]

MovieLens-100k (943 users, each with a sex and an age). A share of the users (drawn at random, seed 0)
has its age hidden, and in a second experiment its sex. The configured `item_bag_ordinal` model
(`conf/real`: item bag weighted by rating, C = 2, age as ordered buckets) is trained two ways in the same
5 folds by user (stratified by sex, seed 0, as `audience.protocol`): on the users with both targets only
(what the pipeline did before users with one target were kept) and on every user with the target (what
it does now). Each is scored out of fold on every user whose target is known to the benchmark (the hidden
ones included: the hiding is the benchmark's, the truth is not lost), with ROC-AUC's 95 % bootstrap
interval (users resampled) and the paired difference's. Writes benchmarks/results/audience_partial.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from socialml.components.audience.models import age_buckets, build_audience_model
from socialml.components.evaluation.metrics import bootstrap_intervals, class_roc_auc
from socialml.components.evaluation.protocols import assign_folds

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "audience_partial.md"
SPEC = {"kind": "item_bag", "c": 2.0, "weight": "rating", "age_model": "ordinal"}
AGE_EDGES, AGE_LABELS = [18, 25, 35, 45, 50, 56], ["<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"]
HIDDEN_SHARES = (0.25, 0.5, 0.75)


def load(data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    users = pd.read_csv(data / "movielens_100k" / "u.user", sep="|", names=["user_id", "age", "gender", "job", "zip"])
    targets = pd.DataFrame({"user_id": users["user_id"], "sex": users["gender"],
                            "age": age_buckets(users["age"], AGE_EDGES, AGE_LABELS)})
    views = pd.read_csv(data / "movielens_100k" / "u.data", sep="\t", names=["user_id", "item_id", "rating", "t"])
    views["timestamp"] = pd.to_datetime(views.pop("t"), unit="s")
    return targets, views


def out_of_fold(views: pd.DataFrame, targets: pd.DataFrame, known: pd.DataFrame, target: str) -> pd.DataFrame:
    """``target``'s probabilities for every user, each from a model fitted in the other folds on ``known``
    (the targets as the pipeline sees them: NaN where hidden or, for complete cases, the users dropped)."""
    folds = assign_folds(targets["sex"], {"kind": "kfold", "folds": 5, "seed": 0})
    frames = []
    for fold in range(5):
        train = known[(folds != fold) & known[["sex", "age"]].notna().any(axis=1).to_numpy()]
        model = build_audience_model(SPEC, age_labels=AGE_LABELS).fit(
            views[views["user_id"].isin(train["user_id"])], None, train)
        test_users = targets.loc[folds == fold, "user_id"]
        frames.append(model.predict_proba(views[views["user_id"].isin(test_users)], None)[target])
    return pd.concat(frames).reindex(targets["user_id"]).fillna(0)


def compare(views: pd.DataFrame, targets: pd.DataFrame, hidden: str, share: float, runs: int) -> dict:
    """Hide ``hidden`` for ``share`` of the users; score the other target trained both ways."""
    target = "age" if hidden == "sex" else "sex"
    hide = np.random.default_rng(0).random(len(targets)) < share
    partial = targets.assign(**{hidden: targets[hidden].where(~hide)})
    complete_cases = partial.assign(**{target: partial[target].where(~hide)})  # a user lacking one is dropped
    scores = {name: out_of_fold(views, targets, known, target)
              for name, known in (("complete cases", complete_cases), ("each target's users", partial))}
    classes = list(scores["each target's users"].columns)
    truth = targets[target].to_numpy(dtype=object)
    matrices = {name: frame[classes].to_numpy() for name, frame in scores.items()}

    def score(rows: np.ndarray) -> dict[str, float]:
        aucs = {name: class_roc_auc(truth[rows], matrix[rows], classes) for name, matrix in matrices.items()}
        return {**aucs, "gain": aucs["each target's users"] - aucs["complete cases"]}
    full, intervals = score(np.arange(len(truth))), bootstrap_intervals(score, len(truth), runs=runs)

    def cell(name: str) -> str:
        low, high = intervals[name]
        sign = "+" if name == "gain" else ""
        return f"{full[name]:{sign}.3f} [{low:{sign}.3f}, {high:{sign}.3f}]"
    return {"target scored": target, "hidden": f"{hidden} of {share:.0%} of users",
            "users it trains on (complete cases / each target's)": f"{int((~hide).sum())} / {len(targets)}",
            "ROC-AUC, complete cases": cell("complete cases"),
            "ROC-AUC, each target's users": cell("each target's users"), "gain": cell("gain")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    targets, views = load(args.data)
    rows = [compare(views, targets, hidden, share, args.runs) for hidden in ("age", "sex") for share in HIDDEN_SHARES]
    table = pd.DataFrame(rows).to_markdown(index=False)
    header = (f"# Audience with partly labelled users\n\nReproduce: `.venv/bin/python benchmarks/bench_audience_partial.py"
              f"`. 2 CPU cores. MovieLens-100k, {len(targets)} users, `item_bag_ordinal` of `conf/real`, 5 folds by "
              f"user; ROC-AUC (age: one-vs-rest macro) over every user with 95 % bootstrap intervals ({args.runs} "
              "resamples of users) and the paired gain of training each target on every user that has it.\n\n")
    RESULTS.write_text(header + table + "\n")
    print(table)


if __name__ == "__main__":
    main()
