"""Seed 004's A/B split: users hash into control or test; the groups are compared by HitRate."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd

from socialml.components.core.errors import SettingsError

GROUPS = ("control", "test")


def assign_group(user_id: int | str, salt: str, test_share: float) -> str:
    """Stable per user and salt: the first 8 bytes of sha256(salt:user_id) as a fraction of 2^64."""
    if not 0 <= test_share <= 1:
        raise SettingsError(f"test_share must be within [0, 1], got {test_share}")
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_share else "control"


def served_hits(served: pd.DataFrame, feed_events: pd.DataFrame, positive_action: str, horizon_hours: float
                ) -> pd.DataFrame:
    """Per served request (request_id, user_id, exp_group, timestamp, post_ids): whether the user
    acted positively on any served post within ``horizon_hours`` after it."""
    missing = {"request_id", "user_id", "exp_group", "timestamp", "post_ids"} - set(served.columns)
    if missing:
        raise KeyError(f"the feed log lacks columns {sorted(missing)}")
    shown = served[["request_id", "user_id", "exp_group", "timestamp", "post_ids"]].explode("post_ids")
    shown = shown.dropna(subset=["post_ids"]).rename(columns={"post_ids": "post_id", "timestamp": "served_at"})
    for column in ("user_id", "post_id"):  # ids come back from the JSON log as ints or strings
        shown[column] = _typed_like(shown[column], feed_events[column])
    positives = feed_events.loc[feed_events["action"] == positive_action, ["user_id", "post_id", "timestamp"]]
    matched = shown.merge(positives, on=["user_id", "post_id"])
    window = (matched["timestamp"] >= matched["served_at"]) & (
        matched["timestamp"] <= matched["served_at"] + pd.Timedelta(hours=horizon_hours))
    hit_requests = set(matched.loc[window, "request_id"])
    out = served[["request_id", "user_id", "exp_group"]].copy()
    out["hit"] = out["request_id"].isin(hit_requests)
    return out


def _typed_like(ids: pd.Series, reference: pd.Series) -> pd.Series:
    """Ids read back from JSON, typed like the table they are matched against (integer or string)."""
    if pd.api.types.is_integer_dtype(reference):
        return pd.to_numeric(ids, errors="coerce").astype("Int64")
    return ids.astype(str)


def compare_groups(hits: pd.DataFrame) -> dict[str, float]:
    """HitRate per group and a two-sided two-proportion z-test of test against control."""
    stats = hits.groupby("exp_group")["hit"].agg(["sum", "count"]).reindex(list(GROUPS), fill_value=0)
    (x_c, n_c), (x_t, n_t) = stats.loc["control"], stats.loc["test"]
    out = {"requests_control": float(n_c), "requests_test": float(n_t),
           "hit_rate_control": x_c / n_c if n_c else float("nan"), "hit_rate_test": x_t / n_t if n_t else float("nan")}
    pooled = (x_c + x_t) / (n_c + n_t) if n_c + n_t else float("nan")
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t)) if n_c and n_t else float("nan")
    z = (out["hit_rate_test"] - out["hit_rate_control"]) / se if se and se > 0 else float("nan")
    out["z"] = z
    out["p_value"] = math.erfc(abs(z) / math.sqrt(2)) if np.isfinite(z) else float("nan")
    return {key: float(value) for key, value in out.items()}
