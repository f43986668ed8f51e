"""Feature builders over the canonical tables: no Python loops over rows.

Each function takes canonical tables and returns one row per entity. They are pure, so the
recommender and audience pipelines can recompute them on a training window without leakage.
Aggregates over feed events and views (the tables that grow to tens of millions of rows) are Ibis
expressions run on an engine (``engines``: DuckDB in process, or Spark); the small tables stay pandas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from socialml.components.data.engines import DEFAULT_ENGINE, ENGINES, Engine

if TYPE_CHECKING:  # Ibis is imported by the engine that runs an expression, not by every user of this module
    import ibis.expr.types as ir

DAY_PARTS = {"night": (0, 6), "morning": (6, 12), "afternoon": (12, 18), "evening": (18, 24)}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Pictographs, symbols and flags: the emoji blocks that carry sentiment in short answers.
EMOJI_PATTERN = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\U0001f1e6-\U0001f1ff]")
TEXT_FIELDS = ("doc_text", "image2text", "speech2text")


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
    [features] = _user_snapshots(users, feed_events, posts, regions, prior_strength, engine,
                                 None if as_of is None else [as_of])
    return features


def _user_snapshots(users: pd.DataFrame, feed_events: pd.DataFrame, posts: pd.DataFrame,
                    regions: pd.DataFrame | None, prior_strength: float, engine: Engine | None,
                    times: list[pd.Timestamp] | None) -> list[pd.DataFrame]:
    """``user_features`` as of each of ``times`` (ascending; None: all events), from one pass over the events."""
    engine = engine or ENGINES.build(DEFAULT_ENGINE)
    events = _event_table(engine, feed_events, times)
    activity = engine.run(user_event_counts(events, len(times) if times is not None else 1))
    # Engines return their own time unit (DuckDB µs, Spark ns): a frame's events keep theirs.
    if isinstance(feed_events, pd.DataFrame):
        activity = activity.astype({column: feed_events["timestamp"].dtype for column in ("first_seen", "last_seen")})
    pairs = topic_table(posts)
    topic_counts = _topic_counts(engine, events, pairs) if len(pairs) else None
    snapshots = []
    for period in range(len(times) if times is not None else 1):
        totals = _totals_up_to(activity, "user_id", period)
        global_rate = totals["n_likes"].sum() / max(totals["n_views"].sum(), 1)
        totals.insert(totals.columns.get_loc("active_days") + 1, "like_rate",
                      (totals["n_likes"] + prior_strength * global_rate) / (totals["n_views"] + prior_strength))
        views = totals["n_views"].where(totals["n_views"] > 0)
        for column in [c for c in totals if c.startswith("view_share_")]:
            totals[column] = (totals[column] / views).fillna(0.0)
        topics = _topic_like_rates(topic_counts, period, global_rate, prior_strength)
        features = _fill_activity_gaps(users.set_index("user_id").join([totals, topics], how="left"))
        if regions is not None and len(regions):
            stats = regions.set_index("region").select_dtypes("number").add_prefix("region_")
            features = features.join(stats, on="region")
        snapshots.append(features.reset_index())
    return snapshots


def user_event_counts(events: ir.Table, periods: int = 1) -> ir.Table:
    """Per user and period: views, likes, first and last event, views in each part of the day and on
    each weekday (``view_share_*``, counts until divided), and the distinct posts viewed and days with
    a view that were first seen in that period. Every count adds up over periods, so the sum over
    periods up to one is the count as of its time (a post or a day counts once, where first seen)."""
    is_like = events["action"] == "like"
    is_view = ~is_like
    hour = events["timestamp"].hour()
    weekday = events["timestamp"].day_of_week.index()  # Monday = 0, as pandas
    keys = ["user_id", "period"]
    if periods == 1:  # first seen = seen: a plain distinct count, which engines do faster than the grouping below
        distinct = {"n_posts_seen": events["post_id"].nunique(where=is_view),
                    "active_days": events["timestamp"].date().nunique(where=is_view)}
    counts = events.group_by(keys).aggregate(
        n_views=_count(is_view),
        n_likes=_count(is_like),
        **(distinct if periods == 1 else {}),
        first_seen=events["timestamp"].min(),
        last_seen=events["timestamp"].max(),
        **{f"view_share_{name}": _count(is_view & (hour >= start) & (hour < end))
           for name, (start, end) in DAY_PARTS.items()},
        **{f"view_share_{name}": _count(is_view & (weekday == day)) for day, name in enumerate(WEEKDAYS)},
    )
    if periods == 1:
        return counts.relocate("active_days", after="last_seen")
    views = events.filter(is_view).mutate(day=events["timestamp"].date())
    posts_seen, days_active = (_first_seen(views, column, name) for column, name in
                               (("post_id", "n_posts_seen"), ("day", "active_days")))
    joined = counts.left_join(posts_seen, keys).left_join(days_active, keys)
    firsts = [joined[name].fill_null(0).name(name) for name in ("n_posts_seen", "active_days")]
    return joined.select(counts["user_id"], counts["period"], counts["n_views"], counts["n_likes"], firsts[0],
                         counts["first_seen"], counts["last_seen"], firsts[1],
                         *[counts[c] for c in counts.columns if c.startswith("view_share_")])


def _first_seen(views: ir.Table, column: str, name: str) -> ir.Table:
    """Per user and period: how many distinct values of ``column`` the user first viewed in that period."""
    first = views.group_by(["user_id", column]).aggregate(period=views["period"].min())
    return first.group_by(["user_id", "period"]).aggregate(**{name: first[column].count()})


def user_topic_counts(events: ir.Table, topics: ir.Table) -> ir.Table:
    """Per user, topic (of the posts the events are about) and period: views and likes."""
    joined = events.join(topics, "post_id")
    is_like = joined["action"] == "like"
    return joined.group_by(["user_id", "topic", "period"]).aggregate(n_seen=_count(~is_like),
                                                                     n_liked=_count(is_like))


def post_event_counts(events: ir.Table) -> ir.Table:
    """Per post and period: views and likes."""
    is_like = events["action"] == "like"
    return events.group_by(["post_id", "period"]).aggregate(n_views=_count(~is_like), n_likes=_count(is_like))


def _count(condition: ir.BooleanColumn) -> ir.IntegerScalar:
    return condition.ifelse(1, 0).sum()


def _event_table(engine: Engine, feed_events: pd.DataFrame | ir.Table, times: list[pd.Timestamp] | None) -> ir.Table:
    """The events on the engine: a pandas frame is handed to it; a table already there (the primary feed log as
    ingestion wrote it) is read where it lies."""
    columns = ["timestamp", "user_id", "post_id", "action"]
    if isinstance(feed_events, pd.DataFrame):
        return with_periods(engine.table(feed_events[columns].astype({"action": "str"})), times)
    return with_periods(feed_events.select(columns), times)


def with_periods(events: ir.Table, times: list[pd.Timestamp] | None) -> ir.Table:
    """The events with their ``period``: the first of ``times`` (ascending) at or after the event;
    events after the last time are left out. Without ``times``, every event is in period 0."""
    import ibis

    if times is None:
        return events.mutate(period=ibis.literal(0, type="int32"))
    period = ibis.cases(*((events["timestamp"] <= time, number) for number, time in enumerate(times)))
    return events.filter(events["timestamp"] <= times[-1]).mutate(period=period.cast("int32"))


def _totals_up_to(counts: pd.DataFrame, key: str, period: int) -> pd.DataFrame:
    """Per ``key``, the counts of every period up to ``period`` added up (first and last times: min, max);
    only keys with a row by then."""
    upto = counts[counts["period"] <= period].drop(columns="period")
    rules = {c: "min" if c == "first_seen" else "max" if c == "last_seen" else "sum" for c in upto.columns.drop(key)}
    return upto.groupby(key, sort=True).agg(rules)


def _topic_counts(engine: Engine, events: ir.Table, pairs: pd.DataFrame) -> pd.DataFrame:
    """Views and likes per (user, period) × topic, one column per topic of the catalogue (viewed or
    not: a model trained on an early window reads the same columns as one serving on the whole log).
    The engine groups by topic codes, so no topic name travels per row."""
    names = pd.Index(sorted(pairs["topic"].unique()))
    codes = pairs.assign(topic=names.get_indexer(pairs["topic"]).astype("int32"))
    counts = engine.run(user_topic_counts(events, engine.table(codes)))
    wide = counts.set_index(["user_id", "period", "topic"]).unstack("topic", fill_value=0)
    wide = wide.reindex(columns=pd.MultiIndex.from_product([["n_seen", "n_liked"], range(len(names))]), fill_value=0)
    return wide.rename(columns=dict(enumerate(names)), level=1)


def _topic_like_rates(counts: pd.DataFrame | None, period: int, global_rate: float,
                      prior_strength: float) -> pd.DataFrame:
    """``like_rate_<topic>`` for every user who viewed a post with a topic by ``period``: smoothed, and
    the global rate for a topic the user never viewed."""
    if counts is None:
        return pd.DataFrame(index=pd.Index([], name="user_id"))
    totals = counts[counts.index.get_level_values("period") <= period].groupby(level="user_id").sum()
    totals = totals[totals["n_seen"].sum(axis=1) > 0].sort_index()
    rates = (totals["n_liked"] + prior_strength * global_rate) / (totals["n_seen"] + prior_strength)
    rates.columns = [f"like_rate_{topic}" for topic in rates.columns]
    return rates.astype("float64").rename_axis(index="user_id", columns=None)


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
    [features] = _post_snapshots(posts, feed_events, prior_strength, engine, None if as_of is None else [as_of])
    return features


def _post_snapshots(posts: pd.DataFrame, feed_events: pd.DataFrame, prior_strength: float, engine: Engine | None,
                    times: list[pd.Timestamp] | None) -> list[pd.DataFrame]:
    """``post_features`` as of each of ``times`` (ascending; None: all events), from one pass over the events."""
    parts = [posts[["post_id"]]]
    for field in TEXT_FIELDS:
        parts.append(text_stats(posts[field], field))
    out = pd.concat(parts, axis=1)
    out["n_text_fields"] = sum((posts[f].fillna("").astype(str).str.strip() != "").astype(int) for f in TEXT_FIELDS)
    out["n_topics"] = posts["topics"].map(len)
    pairs = topic_table(posts)
    topic_flags = pairs.groupby(["post_id", "topic"], observed=True).size().unstack(fill_value=0).add_prefix("topic_")
    out = out.join(topic_flags, on="post_id")
    flag_columns = [c for c in out if c.startswith("topic_")]
    out[flag_columns] = out[flag_columns].fillna(0).astype("int8")
    created = posts["created_at"]
    out["created_hour"] = created.dt.hour
    out["created_weekday"] = created.dt.weekday
    engine = engine or ENGINES.build(DEFAULT_ENGINE)
    counts = engine.run(post_event_counts(_event_table(engine, feed_events, times)))
    snapshots = []
    for period in range(len(times) if times is not None else 1):
        totals = _totals_up_to(counts, "post_id", period)
        features = out.copy()
        features["n_views"] = features["post_id"].map(totals["n_views"]).fillna(0).astype("int64")
        features["n_likes"] = features["post_id"].map(totals["n_likes"]).fillna(0).astype("int64")
        global_rate = totals["n_likes"].sum() / max(totals["n_views"].sum(), 1)
        features["like_rate"] = ((features["n_likes"] + prior_strength * global_rate)
                                 / (features["n_views"] + prior_strength))
        snapshots.append(features)
    return snapshots


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
        """One pass over the events for every time: counts per period between the times, added up."""
        times = sorted(times)
        engine = engine or ENGINES.build(DEFAULT_ENGINE)
        user_tables = _user_snapshots(users, feed_events, posts, regions, user_prior_strength, engine, times)
        post_tables = _post_snapshots(posts, feed_events, post_prior_strength, engine, times)
        return cls(*(_stack([table.assign(as_of=time) for table, time in zip(tables, times)])
                     for tables in (user_tables, post_tables)))

    def times(self) -> list[pd.Timestamp]:
        return sorted(pd.to_datetime(self.users["as_of"]).unique())

    def at(self, as_of: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(user features, post features) as of exactly that time; a clear stop if it was not computed."""
        as_of, times = pd.Timestamp(as_of), self.times()
        if as_of not in times:
            raise KeyError(f"no feature snapshot as of {as_of}: feature_enrichment computed them as of "
                           f"{[str(t) for t in times]}; rerun it after changing the post feed's protocol")
        return tuple(table[table["as_of"] == as_of].drop(columns="as_of").reset_index(drop=True)
                     for table in (self.users, self.posts))


def _stack(tables: list[pd.DataFrame]) -> pd.DataFrame:
    stacked = pd.concat(tables, ignore_index=True)
    return stacked[["as_of", *stacked.columns.drop("as_of")]]


def viewer_history(views: pd.DataFrame | ir.Table, items: pd.DataFrame, as_of: pd.Timestamp | None = None,
                   engine: Engine | None = None) -> pd.DataFrame:
    """Seed 002's history aggregates per user: counts, category shares, time shares, recency, watch time.

    The aggregates over views run on ``engine`` (in-process DuckDB unless another is given), reading
    ``views`` where they lie (the primary views table ingestion wrote) or handed over as a frame; what
    comes back is one row per user. Recency is measured to ``as_of`` (default: the last view), which the
    table carries in an ``as_of`` column: an audience model trained on the table keeps it, so one user's
    views served alone get the recency they had in the table. Mean watch time and rating are columns
    only where some view has one; category shares are a column for every category of the catalogue (so
    one user's history has the table's columns).
    """
    engine = engine or ENGINES.build(DEFAULT_ENGINE)
    categories = items[["item_id", "categories"]].explode("categories", ignore_index=True).dropna(subset=["categories"])
    names = pd.Index(sorted(categories["categories"].unique(), key=str))
    if isinstance(views, pd.DataFrame):  # a request's few views: only their items' categories go to the engine
        categories = categories[categories["item_id"].isin(views["item_id"])]
    codes = pd.DataFrame({"item_id": categories["item_id"],
                          "category": names.get_indexer(categories["categories"]).astype("int32")})
    rows = engine.run(user_view_counts(_view_table(engine, views), engine.table(codes) if len(names) else None))
    counts = rows.drop_duplicates("user_id").set_index("user_id").sort_index()
    reference_time = counts["last_view"].max() if as_of is None else as_of
    out = counts[["n_views", "n_items"]].astype("int64")
    out["days_since_last_view"] = _days_between(pd.Series(reference_time, index=counts.index), counts["last_view"])
    out["history_span_days"] = _days_between(counts["last_view"], counts["first_view"])
    for column in ("mean_watch_seconds", "mean_rating"):
        if counts[column].notna().any():
            out[column] = counts[column].astype("float64")
    if len(names):
        viewed = rows.dropna(subset=["category"]).astype({"category": "int64"})
        wide = viewed.pivot(index="user_id", columns="category", values="n_category_views")
        wide = wide.reindex(index=out.index, columns=range(len(names))).fillna(0)
        shares = wide.div(wide.sum(axis=1).where(lambda total: total > 0), axis=0).fillna(0.0)
        out[[f"category_share_{name}" for name in names]] = shares.to_numpy(dtype="float64")
    time_counts = [c for c in counts if c.startswith("view_share_")]
    out[time_counts] = counts[time_counts].div(counts["n_views"], axis=0).astype("float64")
    out.insert(0, "as_of", reference_time)
    return out.reset_index()


def user_view_counts(views: ir.Table, categories: ir.Table | None = None) -> ir.Table:
    """Per user: views, distinct items, first and last view, mean watch time and rating, and views in each
    part of the day and on each weekday (``view_share_*``, counts until divided). With ``categories``
    (item_id, category), one row per user and category viewed (an item may have several), its views in
    ``n_category_views``; a user who viewed none has one row with no category."""
    hour = views["timestamp"].hour()
    weekday = views["timestamp"].day_of_week.index()  # Monday = 0, as pandas
    per_user = views.group_by("user_id").aggregate(
        n_views=views.count(),
        n_items=views["item_id"].nunique(),
        first_view=views["timestamp"].min(),
        last_view=views["timestamp"].max(),
        mean_watch_seconds=views["watch_seconds"].mean(),
        mean_rating=views["rating"].mean(),
        **{f"view_share_{name}": _count((hour >= start) & (hour < end)) for name, (start, end) in DAY_PARTS.items()},
        **{f"view_share_{name}": _count(weekday == day) for day, name in enumerate(WEEKDAYS)},
    )
    if categories is None:
        return per_user
    joined = views.join(categories, "item_id")
    per_category = joined.group_by(["user_id", "category"]).aggregate(n_category_views=joined.count())
    return per_user.left_join(per_category, "user_id").drop("user_id_right")


def _view_table(engine: Engine, views: pd.DataFrame | ir.Table) -> ir.Table:
    columns = ["user_id", "item_id", "timestamp", "watch_seconds", "rating"]
    if isinstance(views, pd.DataFrame):
        numbers = {c: views[c] if c in views else np.nan for c in ("watch_seconds", "rating")}
        return engine.table(views.assign(**numbers)[columns].astype({c: "float64" for c in numbers}))
    return engine.owns(views).select(columns)


def _days_between(later: pd.Series, earlier: pd.Series) -> pd.Series:
    """Days from ``earlier`` to ``later`` in whole seconds, so a served view dated in year 39 or 3381
    (which the service accepts) cannot overflow a nanosecond timedelta."""
    def seconds(times: pd.Series) -> np.ndarray:
        return times.to_numpy().astype("datetime64[s]").astype("int64").astype("float64")

    return pd.Series((seconds(later) - seconds(earlier)) / 86_400, index=later.index)


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
