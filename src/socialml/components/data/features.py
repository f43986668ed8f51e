"""Feature builders over the canonical tables: no Python loops over rows.

Each function takes canonical tables and returns one row per entity. They are pure, so the
recommender and audience pipelines can recompute them on a training window without leakage.
Aggregates over feed events (the tables that grow to tens of millions of rows) are Ibis
expressions run on an engine (``engines``: DuckDB in process, or Spark); the small tables stay pandas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from socialml.components.data.engines import DEFAULT_ENGINE, ENGINES, Engine

if TYPE_CHECKING:  # Ibis is imported by the engine that runs an expression, not by every user of this module
    import ibis.expr.types as ir

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
    engine: Engine | None = None,
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Demographics, activity, time-of-day/weekday shares, per-topic like rates, regional statistics.

    Like rates are smoothed towards the global rate with ``prior_strength`` pseudo-views, so a
    user with two views does not get a rate of 0 or 1. The aggregates over events run on ``engine``
    (in-process DuckDB unless another is given); what they return is one row per user. With
    ``as_of``, only events at or before it count: the features as they were then.
    """
    engine = engine or ENGINES.build(DEFAULT_ENGINE)
    events = _event_table(engine, feed_events, as_of)
    activity = engine.run(user_event_counts(events)).set_index("user_id")
    # Engines return their own time unit (DuckDB µs, Spark ns): keep the events' own.
    activity = activity.astype({column: feed_events["timestamp"].dtype for column in ("first_seen", "last_seen")})
    global_rate = activity["n_likes"].sum() / max(activity["n_views"].sum(), 1)
    activity.insert(activity.columns.get_loc("active_days") + 1, "like_rate",
                    (activity["n_likes"] + prior_strength * global_rate) / (activity["n_views"] + prior_strength))
    views = activity["n_views"].where(activity["n_views"] > 0)
    for column in [c for c in activity if c.startswith("view_share_")]:
        activity[column] = (activity[column] / views).fillna(0.0)
    topics = _topic_like_rates(engine, events, posts, global_rate, prior_strength)
    features = users.set_index("user_id").join([activity, topics], how="left")
    features = _fill_activity_gaps(features)
    if regions is not None and len(regions):
        stats = regions.set_index("region").select_dtypes("number").add_prefix("region_")
        features = features.join(stats, on="region")
    return features.reset_index()


def user_event_counts(events: ir.Table) -> ir.Table:
    """Per user: views, likes, distinct posts viewed, first and last event, days with a view, and the
    views in each part of the day and on each weekday (``view_share_*``, counts until divided)."""
    is_like = events["action"] == "like"
    is_view = ~is_like
    hour = events["timestamp"].hour()
    weekday = events["timestamp"].day_of_week.index()  # Monday = 0, as pandas
    return events.group_by("user_id").aggregate(
        n_views=_count(is_view),
        n_likes=_count(is_like),
        n_posts_seen=events["post_id"].nunique(where=is_view),
        first_seen=events["timestamp"].min(),
        last_seen=events["timestamp"].max(),
        active_days=events["timestamp"].date().nunique(where=is_view),
        **{f"view_share_{name}": _count(is_view & (hour >= start) & (hour < end))
           for name, (start, end) in DAY_PARTS.items()},
        **{f"view_share_{name}": _count(is_view & (weekday == day)) for day, name in enumerate(WEEKDAYS)},
    )


def user_topic_counts(events: ir.Table, topics: ir.Table) -> ir.Table:
    """Per user and topic (of the posts the events are about): views and likes."""
    joined = events.join(topics, "post_id")
    is_like = joined["action"] == "like"
    return joined.group_by(["user_id", "topic"]).aggregate(n_seen=_count(~is_like), n_liked=_count(is_like))


def post_event_counts(events: ir.Table) -> ir.Table:
    """Per post: views and likes."""
    is_like = events["action"] == "like"
    return events.group_by("post_id").aggregate(n_views=_count(~is_like), n_likes=_count(is_like))


def _count(condition: ir.BooleanColumn) -> ir.IntegerScalar:
    return condition.ifelse(1, 0).sum()


def _event_table(engine: Engine, feed_events: pd.DataFrame, as_of: pd.Timestamp | None) -> ir.Table:
    table = engine.table(feed_events[["timestamp", "user_id", "post_id", "action"]].astype({"action": "str"}))
    return table if as_of is None else table.filter(table["timestamp"] <= as_of)


def _topic_like_rates(engine: Engine, events: ir.Table, posts: pd.DataFrame, global_rate: float,
                      prior_strength: float) -> pd.DataFrame:
    """``like_rate_<topic>`` for every user who viewed a post with a topic: smoothed, and the global
    rate for a topic the user never viewed."""
    pairs = topic_table(posts)
    if pairs.empty:
        return pd.DataFrame(index=pd.Index([], name="user_id"))
    counts = engine.run(user_topic_counts(events, engine.table(pairs.astype({"topic": "str"}))))
    viewed = counts[counts["n_seen"] > 0]
    # Every topic of the catalogue, viewed in these events or not: a model trained on an earlier
    # window reads the same columns as one serving on the whole log.
    users, topics = pd.Index(viewed["user_id"].unique()).sort_values(), sorted(pairs["topic"].unique())
    n_seen, n_liked = (counts.pivot_table(index="user_id", columns="topic", values=column, aggfunc="sum")
                       .reindex(index=users, columns=topics).fillna(0) for column in ("n_seen", "n_liked"))
    rates = (n_liked + prior_strength * global_rate) / (n_seen + prior_strength)
    rates.columns = [f"like_rate_{topic}" for topic in rates.columns]
    return rates.rename_axis(index="user_id", columns=None)


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


def post_features(posts: pd.DataFrame, feed_events: pd.DataFrame, prior_strength: float = 20.0,
                  engine: Engine | None = None, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Text length, emoji and punctuation counts per field, topic flags, time features, popularity
    (counted on ``engine``, in-process DuckDB unless another is given; with ``as_of``, from events
    at or before it only)."""
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
    engine = engine or ENGINES.build(DEFAULT_ENGINE)
    counts = engine.run(post_event_counts(_event_table(engine, feed_events, as_of)))
    counts = counts.set_index("post_id")
    out["n_views"] = out["post_id"].map(counts["n_views"]).fillna(0).astype("int64")
    out["n_likes"] = out["post_id"].map(counts["n_likes"]).fillna(0).astype("int64")
    global_rate = counts["n_likes"].sum() / max(counts["n_views"].sum(), 1)
    out["like_rate"] = (out["n_likes"] + prior_strength * global_rate) / (out["n_views"] + prior_strength)
    return out


@dataclass(frozen=True)
class FeatureSnapshots:
    """User and post features as of several times, stacked: each row's ``as_of`` says which.

    Training reads them as of its protocol's cuts and serving as of the end of the log, so both
    read one definition of each feature, computed once by the enrichment pipeline.
    """

    users: pd.DataFrame
    posts: pd.DataFrame

    @classmethod
    def build(cls, users: pd.DataFrame, feed_events: pd.DataFrame, posts: pd.DataFrame, times: list[pd.Timestamp],
              regions: pd.DataFrame | None = None, user_prior_strength: float = 5.0,
              post_prior_strength: float = 20.0, engine: Engine | None = None) -> FeatureSnapshots:
        engine = engine or ENGINES.build(DEFAULT_ENGINE)
        user_tables, post_tables = [], []
        for as_of in tqdm(times, desc="feature snapshots", disable=None, leave=False):
            user_tables.append(user_features(users, feed_events, posts, regions, user_prior_strength, engine, as_of)
                               .assign(as_of=as_of))
            post_tables.append(post_features(posts, feed_events, post_prior_strength, engine, as_of)
                               .assign(as_of=as_of))
        return cls(*(_stack(tables) for tables in (user_tables, post_tables)))

    def times(self) -> list[pd.Timestamp]:
        return sorted(pd.to_datetime(self.users["as_of"]).unique())

    def at(self, as_of: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(user features, post features) as of exactly that time; a clear stop if it was not computed."""
        as_of = pd.Timestamp(as_of)
        if as_of not in self.times():
            raise KeyError(f"no feature snapshot as of {as_of}: feature_enrichment computed them as of "
                           f"{[str(t) for t in self.times()]}; rerun it after changing the post feed's protocol")
        return tuple(table[table["as_of"] == as_of].drop(columns="as_of").reset_index(drop=True)
                     for table in (self.users, self.posts))


def _stack(tables: list[pd.DataFrame]) -> pd.DataFrame:
    if not tables:
        return pd.DataFrame({"as_of": pd.Series(dtype="datetime64[us]")})
    stacked = pd.concat(tables, ignore_index=True)
    return stacked[["as_of", *stacked.columns.drop("as_of")]]


def viewer_history(views: pd.DataFrame, items: pd.DataFrame, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Seed 002's history aggregates: counts, category shares, time shares, recency, watch time.

    Recency is measured to ``as_of`` (default: the last view): a model passes the end of its training
    views, so one user's views served alone get the recency they would have had among all of them.
    """
    reference_time = views["timestamp"].max() if as_of is None else as_of
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
