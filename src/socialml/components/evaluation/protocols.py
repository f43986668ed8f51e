"""Evaluation protocols: which rows each system learns from and which it is scored on.

Every split is seeded or time-based, so two runs on the same data score the same held-out rows.
Models are never imported here: a protocol returns ids and frames, and the caller fits on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from socialml.components.core.errors import DataStop, SettingsError

TOPIC_SPLITS = ("train", "validation", "test")
_GOLDEN_RATIO_CONJUGATE = (np.sqrt(5.0) - 1.0) / 2.0  # the step of the most evenly spread sequence mod 1


@dataclass(frozen=True)
class FeedSplit:
    history: pd.DataFrame  # feed events a model may learn from
    requests: pd.DataFrame  # request_id, user_id, request_time
    targets: pd.DataFrame  # request_id, post_id: the relevant posts of each request


def split_feed(events: pd.DataFrame, protocol: dict[str, Any], positive_action: str) -> FeedSplit:
    """Requests and their relevant posts after a cut, and the history before it.

    ``time_split``: the cut is ``protocol.cut`` or the (1 - test_share) quantile of event times;
    every user who has a positive event after it makes one request at their first event after
    it, and every post they act on positively after it is relevant.
    ``leave_last_out``: each user's last positive event (ties at one timestamp: the last in the
    events' order) is the target, requested at its own time; the history loses that pair only.
    """
    kind = protocol["kind"]
    events = events.reset_index(drop=True)
    is_positive = events["action"] == positive_action
    if kind == "time_split":
        cut = time_cut(events["timestamp"], protocol)
        after = events["timestamp"] >= cut
        future_positive = events[after & is_positive]
        users = np.sort(future_positive["user_id"].unique())
        request_time = events[after].groupby("user_id")["timestamp"].min().reindex(users).to_numpy()
        requests = pd.DataFrame({"request_id": np.arange(len(users)), "user_id": users, "request_time": request_time})
        targets = (future_positive[["user_id", "post_id"]].drop_duplicates()
                   .merge(requests[["request_id", "user_id"]], on="user_id")[["request_id", "post_id"]])
        history = events[~after]
    elif kind == "leave_last_out":
        positives = events[is_positive].sort_values("timestamp", kind="stable")
        last = positives.groupby("user_id", sort=True).tail(1).sort_values("user_id", kind="stable")
        requests = pd.DataFrame({"request_id": np.arange(len(last)), "user_id": last["user_id"].to_numpy(),
                                 "request_time": last["timestamp"].to_numpy()})
        targets = pd.DataFrame({"request_id": requests["request_id"], "post_id": last["post_id"].to_numpy()})
        held_out = pd.MultiIndex.from_frame(last[["user_id", "post_id"]])
        history = events[~pd.MultiIndex.from_frame(events[["user_id", "post_id"]]).isin(held_out)]
    else:
        raise SettingsError(f"unknown feed protocol '{kind}': use time_split or leave_last_out")
    return FeedSplit(history.reset_index(drop=True), requests, targets.reset_index(drop=True))


def time_cut(timestamps: pd.Series, protocol: dict[str, Any]) -> pd.Timestamp:
    """Where a ``time_split`` cuts: ``protocol.cut``, else the (1 - test_share) quantile of event times."""
    return pd.Timestamp(protocol["cut"]) if protocol.get("cut") else timestamps.quantile(1 - protocol["test_share"])


def history_ends(timestamps: pd.Series, protocol: dict[str, Any], splits: int) -> list[pd.Timestamp]:
    """The last event time of a history, then of each of ``splits`` ``time_split`` histories peeled off
    it in turn (as ``split_feed`` peels them): the times whose features a model fitted on it reads."""
    if protocol["kind"] != "time_split":
        raise SettingsError(f"only a time_split has a cut to compute features as of, not '{protocol['kind']}'")
    ends = [timestamps.max()]
    for _ in range(splits):
        timestamps = timestamps[timestamps < time_cut(timestamps, protocol)]
        ends.append(timestamps.max())
    return ends


def hide_one_product(holdings: pd.DataFrame, min_products: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(visible holdings, hidden pairs): one random product hidden per client with ``min_products``+."""
    pairs = holdings[["client_id", "product_id"]].drop_duplicates()
    eligible = pairs.groupby("client_id")["product_id"].transform("size") >= min_products
    hidden = pairs[eligible].sample(frac=1.0, random_state=seed).groupby("client_id").head(1)
    visible = holdings.merge(hidden.assign(_hidden=True), on=["client_id", "product_id"], how="left")
    visible = visible[visible["_hidden"].isna()].drop(columns="_hidden")
    return visible.reset_index(drop=True), hidden.sort_values("client_id").reset_index(drop=True)


def assign_folds(labels: pd.Series, protocol: dict[str, Any]) -> np.ndarray:
    """A fold number per row. ``kfold``: stratified by ``labels`` into ``folds`` folds, each scored;
    ``holdout``: a seeded ``test_share`` of rows in fold 1, the only one scored."""
    if protocol["kind"] == "kfold":
        from sklearn.model_selection import StratifiedKFold

        folds = np.full(len(labels), -1)
        splitter = StratifiedKFold(n_splits=protocol["folds"], shuffle=True, random_state=protocol["seed"])
        for fold, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
            folds[test] = fold
        return folds
    if protocol["kind"] == "holdout":
        rng = np.random.default_rng(protocol["seed"])
        return (rng.random(len(labels)) < protocol["test_share"]).astype(int)
    raise SettingsError(f"protocol.kind must be kfold or holdout, got {protocol['kind']!r}")


def scored_folds(folds: np.ndarray, protocol: dict[str, Any]) -> list[int]:
    return sorted(set(folds.tolist())) if protocol["kind"] == "kfold" else [1]


def train_test_rows(given_split: pd.Series, labels: pd.Series, test_share: float, seed: int, table: str = "rows"
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) masks: the source's own train/test split where it has one, else a stratified random one.
    ``table`` names the rows in the stop raised when either part would be empty."""
    if given_split.notna().any():
        train, test = (given_split == "train").to_numpy(), (given_split == "test").to_numpy()
    else:
        from sklearn.model_selection import train_test_split

        index = np.arange(len(labels))
        train_idx, _ = train_test_split(index, test_size=test_share, random_state=seed, stratify=labels)
        train = np.isin(index, train_idx)
        test = ~train
    _require_parts({"train": train, "test": test}, given_split, table)
    return train, test


def train_validation_test(given_split: pd.Series, shares: dict[str, float], seed: int, table: str = "rows",
                          strata: pd.Series | None = None) -> np.ndarray:
    """The split of each row: the source's own where it has one, else seeded random with the given shares.
    A source split into train and test only gets its validation rows drawn from its training rows (the
    validation share of train + validation). With ``strata`` (one value per row, e.g. a post's rarest topic)
    every random draw is stratified: each stratum is spread over the parts in the shares, to a row or two.
    ``table`` names the rows in the stop raised when a part is empty."""
    own_split = given_split.notna().any()
    if own_split:
        split = given_split.to_numpy(dtype=object).copy()
    else:
        split = _draw_parts(TOPIC_SPLITS, [shares[s] for s in TOPIC_SPLITS], seed, strata, len(given_split))
    unknown = set(split) - set(TOPIC_SPLITS)
    if unknown:
        raise DataStop(f"{table} have splits {sorted(map(str, unknown))}; expected {TOPIC_SPLITS}")
    if own_split and not (split == "validation").any():
        training = np.flatnonzero(split == "train")
        share = shares["validation"] / (shares["train"] + shares["validation"])
        if strata is None:
            drawn = np.random.default_rng(seed).choice(training, int(round(len(training) * share)), replace=False)
        else:
            parts = _draw_parts(("train", "validation"), [1 - share, share], seed,
                                strata.iloc[training].reset_index(drop=True), len(training))
            drawn = training[parts == "validation"]
        split[drawn] = "validation"
    _require_parts({part: split == part for part in TOPIC_SPLITS}, given_split, table)
    return split


def _draw_parts(parts: tuple[str, ...], shares: list[float], seed: int, strata: pd.Series | None, rows: int
                ) -> np.ndarray:
    """A seeded random part per row. Unstratified: independent draws. Stratified: rows ordered by stratum
    (at random within one) take their parts from a golden-ratio sequence, which gives every run of
    consecutive rows each part in its share to within a row or two; so small strata spread over the parts
    (a stratum of one row is drawn like any row) and large ones split in the shares."""
    rng = np.random.default_rng(seed)
    if strata is None:
        return rng.choice(parts, rows, p=shares)
    if len(strata) != rows:
        raise ValueError(f"strata have {len(strata)} values for {rows} rows")
    order = np.lexsort((rng.random(rows), pd.factorize(strata.astype(str), sort=True)[0]))
    sequence = (rng.random() + np.arange(rows) * _GOLDEN_RATIO_CONJUGATE) % 1.0
    drawn = np.empty(rows, dtype=object)
    bounds = np.cumsum(shares) / np.sum(shares)
    drawn[order] = np.asarray(parts, dtype=object)[np.minimum(np.searchsorted(bounds, sequence, side="right"),
                                                              len(parts) - 1)]
    return drawn


def _require_parts(parts: dict[str, np.ndarray], given_split: pd.Series, table: str) -> None:
    empty = [name for name, rows in parts.items() if not rows.any()]
    if empty:
        origin = (f"the source's split column has {given_split.value_counts(dropna=False).to_dict()}"
                  if given_split.notna().any() else f"a random split of {len(given_split)} rows")
        raise DataStop(f"{table}: no {' or '.join(empty)} rows: {origin}. Give the source more rows, or a split "
                       "column with every part (or none, for a random split).")
