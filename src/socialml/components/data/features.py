"""Feature builders over the canonical tables: vectorised pandas, no Python loops over rows.

Each function takes canonical tables and returns one row per entity. They are pure, so the
recommender and audience pipelines can recompute them on a training window without leakage.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

DAY_PARTS = {"night": (0, 6), "morning": (6, 12), "afternoon": (12, 18), "evening": (18, 24)}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Pictographs, symbols and flags: the emoji blocks that carry sentiment in short answers.
EMOJI_PATTERN = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\U0001f1e6-\U0001f1ff]")
TEXT_FIELDS = ("doc_text", "image2text", "speech2text")


def time_shares(timestamps: pd.Series, keys: pd.Series, prefix: str = "") -> pd.DataFrame:
    """Per key: share of events in each part of the day and on each weekday."""
    hours = timestamps.dt.hour.to_numpy()
    part = np.digitize(hours, [6, 12, 18])  # 0 night .. 3 evening
    weekday = timestamps.dt.weekday.to_numpy()
    codes, uniques = pd.factorize(keys, sort=True)
    n = len(uniques)
    totals = np.bincount(codes, minlength=n).astype(float)
    totals[totals == 0] = 1
    columns = {}
    for i, name in enumerate(DAY_PARTS):
        columns[f"{prefix}share_{name}"] = np.bincount(codes[part == i], minlength=n) / totals
    for i, name in enumerate(WEEKDAYS):
        columns[f"{prefix}share_{name}"] = np.bincount(codes[weekday == i], minlength=n) / totals
    return pd.DataFrame(columns, index=pd.Index(uniques, name=keys.name))


def topic_table(posts: pd.DataFrame) -> pd.DataFrame:
    """(post_id, topic) pairs from the list column."""
    exploded = posts[["post_id", "topics"]].explode("topics", ignore_index=True).dropna(subset=["topics"])
    return exploded.rename(columns={"topics": "topic"}).astype({"topic": "category"})


def user_features(
    users: pd.DataFrame,
    feed_events: pd.DataFrame,
    posts: pd.DataFrame,
    regions: pd.DataFrame | None = None,
    prior_strength: float = 5.0,
) -> pd.DataFrame:
    """Demographics, activity, time-of-day/weekday shares, per-topic like rates, regional statistics.

    Like rates are smoothed towards the global rate with ``prior_strength`` pseudo-views, so a
    user with two views does not get a rate of 0 or 1.
    """
    events = feed_events[["timestamp", "user_id", "post_id", "action"]]
    is_like = (events["action"] == "like").to_numpy()
    views = events[~is_like]
    likes = events[is_like]
    activity = pd.DataFrame(
        {
            "n_views": views.groupby("user_id").size(),
            "n_likes": likes.groupby("user_id").size(),
            "n_posts_seen": views.groupby("user_id")["post_id"].nunique(),
            "first_seen": events.groupby("user_id")["timestamp"].min(),
            "last_seen": events.groupby("user_id")["timestamp"].max(),
            "active_days": _active_days(views),
        }
    )
    activity[["n_views", "n_likes", "n_posts_seen", "active_days"]] = (
        activity[["n_views", "n_likes", "n_posts_seen", "active_days"]].fillna(0).astype("int64")
    )
    global_rate = len(likes) / max(len(views), 1)
    activity["like_rate"] = (activity["n_likes"] + prior_strength * global_rate) / (activity["n_views"] + prior_strength)
    shares = time_shares(views["timestamp"], views["user_id"], prefix="view_")
    topics = _topic_like_rates(views, likes, posts, global_rate, prior_strength)
    features = users.set_index("user_id").join([activity, shares, topics], how="left")
    features = _fill_activity_gaps(features)
    if regions is not None and len(regions):
        stats = regions.set_index("region").select_dtypes("number").add_prefix("region_")
        features = features.join(stats, on="region")
    return features.reset_index()


def _active_days(views: pd.DataFrame) -> pd.Series:
    day = views["timestamp"].to_numpy().astype("datetime64[D]").astype(np.int64)
    pairs = pd.DataFrame({"user_id": views["user_id"].to_numpy(), "day": day}).drop_duplicates()
    return pairs.groupby("user_id").size()


def _topic_like_rates(views, likes, posts, global_rate: float, prior_strength: float) -> pd.DataFrame:
    pairs = topic_table(posts)
    if pairs.empty:
        return pd.DataFrame(index=pd.Index([], name="user_id"))
    seen = views[["user_id", "post_id"]].merge(pairs, on="post_id")
    liked = likes[["user_id", "post_id"]].merge(pairs, on="post_id")
    n_seen = seen.groupby(["user_id", "topic"], observed=True).size().unstack(fill_value=0)
    n_liked = liked.groupby(["user_id", "topic"], observed=True).size().unstack(fill_value=0)
    n_liked = n_liked.reindex(index=n_seen.index, columns=n_seen.columns, fill_value=0)
    rates = (n_liked + prior_strength * global_rate) / (n_seen + prior_strength)
    rates.columns = [f"like_rate_{topic}" for topic in rates.columns]
    return rates


def _fill_activity_gaps(features: pd.DataFrame) -> pd.DataFrame:
    """Users with no events get zero counts and shares (not NaN); rates stay NaN = unknown."""
    counts = [c for c in features if c.startswith("n_") or c == "active_days"]
    shares = [c for c in features if c.startswith("view_share_")]
    features[counts] = features[counts].fillna(0).astype("int64")
    features[shares] = features[shares].fillna(0.0)
    return features


def text_stats(text: pd.Series, prefix: str) -> pd.DataFrame:
    text = text.fillna("").astype(str)
    return pd.DataFrame(
        {
            f"{prefix}_chars": text.str.len(),
            f"{prefix}_words": text.str.split().str.len().fillna(0).astype(int),
            f"{prefix}_emoji": text.str.count(EMOJI_PATTERN.pattern),
            f"{prefix}_exclamations": text.str.count("!"),
            f"{prefix}_questions": text.str.count(r"\?"),
            f"{prefix}_ellipses": text.str.count(r"\.\.\.|…"),
        },
        index=text.index,
    )


def post_features(posts: pd.DataFrame, feed_events: pd.DataFrame, prior_strength: float = 20.0) -> pd.DataFrame:
    """Text length, emoji and punctuation counts per field, topic flags, time features, popularity."""
    parts = [posts[["post_id"]]]
    for field in TEXT_FIELDS:
        parts.append(text_stats(posts[field], field))
    out = pd.concat(parts, axis=1)
    out["n_text_fields"] = sum((posts[f].fillna("").astype(str).str.strip() != "").astype(int) for f in TEXT_FIELDS)
    out["n_topics"] = posts["topics"].map(len)
    pairs = topic_table(posts)
    topic_flags = pd.crosstab(pairs["post_id"], pairs["topic"]).add_prefix("topic_")
    out = out.join(topic_flags, on="post_id")
    flag_columns = [c for c in out if c.startswith("topic_")]
    out[flag_columns] = out[flag_columns].fillna(0).astype("int8")
    created = posts["created_at"]
    out["created_hour"] = created.dt.hour
    out["created_weekday"] = created.dt.weekday
    is_like = feed_events["action"] == "like"
    n_views = feed_events.loc[~is_like].groupby("post_id").size()
    n_likes = feed_events.loc[is_like].groupby("post_id").size()
    out["n_views"] = out["post_id"].map(n_views).fillna(0).astype("int64")
    out["n_likes"] = out["post_id"].map(n_likes).fillna(0).astype("int64")
    global_rate = is_like.sum() / max((~is_like).sum(), 1)
    out["like_rate"] = (out["n_likes"] + prior_strength * global_rate) / (out["n_views"] + prior_strength)
    return out


def viewer_history(views: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Seed 002's history aggregates: counts, category shares, time shares, recency, watch time."""
    reference_time = views["timestamp"].max()
    grouped = views.groupby("user_id")
    out = pd.DataFrame(
        {
            "n_views": grouped.size(),
            "n_items": grouped["item_id"].nunique(),
            "days_since_last_view": (reference_time - grouped["timestamp"].max()).dt.total_seconds() / 86_400,
            "history_span_days": (grouped["timestamp"].max() - grouped["timestamp"].min()).dt.total_seconds() / 86_400,
        }
    )
    if views["watch_seconds"].notna().any():
        out["mean_watch_seconds"] = grouped["watch_seconds"].mean()
    if views["rating"].notna().any():
        out["mean_rating"] = grouped["rating"].mean()
    categories = items[["item_id", "categories"]].explode("categories", ignore_index=True).dropna(subset=["categories"])
    if len(categories):
        per_view = views[["user_id", "item_id"]].merge(categories, on="item_id")
        counts = pd.crosstab(per_view["user_id"], per_view["categories"])
        shares = counts.div(counts.sum(axis=1), axis=0).add_prefix("category_share_")
        out = out.join(shares).fillna({c: 0.0 for c in shares})
    out = out.join(time_shares(views["timestamp"], views["user_id"], prefix="view_"))
    return out.reset_index()


def client_features(clients: pd.DataFrame, holdings: pd.DataFrame) -> pd.DataFrame:
    """Client attributes (numeric where they parse) plus what they hold and how recently they took it."""
    out = clients.copy()
    for column in out.columns.drop("client_id"):
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            numeric = pd.to_numeric(out[column].astype("string").str.strip(), errors="coerce")
            if numeric.notna().sum() >= 0.9 * out[column].notna().sum() and numeric.notna().any():
                out[column] = numeric
            else:
                out[column] = out[column].astype("string").str.strip()
    held = pd.crosstab(holdings["client_id"], holdings["product_id"]).clip(upper=1).add_prefix("holds_")
    out = out.join(held, on="client_id")
    held_columns = list(held.columns)
    out[held_columns] = out[held_columns].fillna(0).astype("int8")
    out["n_products"] = out[held_columns].sum(axis=1)
    latest = holdings.groupby("client_id")["since"].max()
    reference = holdings["since"].max()
    out["days_since_last_product"] = out["client_id"].map((reference - latest).dt.days)
    return out
