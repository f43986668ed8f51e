"""The aggregates over feed events and views give the same tables on every engine (Spark needs Java 17:
CI installs it)."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from socialml.components.data import features
from socialml.components.data.engines import ENGINES


@pytest.fixture(scope="module")
def platform(tiny_platform):
    """The tiny platform's users, posts and valid feed events, with ids as strings (not the generator's ints)."""
    users = tiny_platform["user_data"].query("age > 0").drop_duplicates("user_id")
    posts = tiny_platform["post_text"].rename(columns={"text": "doc_text", "image_text": "image2text",
                                                       "audio_text": "speech2text"})
    posts["topics"] = posts["topics"].str.split("|")
    events = tiny_platform["feed_data"].dropna().drop_duplicates().query("action in ('view', 'like')")
    return (users.assign(user_id=as_text(users["user_id"], "user-")),
            posts.assign(post_id=as_text(posts["post_id"], "post-")),
            events.assign(user_id=as_text(events["user_id"], "user-"), post_id=as_text(events["post_id"], "post-")))


def as_text(ids: pd.Series, prefix: str) -> pd.Series:
    return prefix + ids.astype("int64").astype(str)


@pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java (scripts/install.sh --dev installs it)")
def test_feed_event_features_are_the_same_on_duckdb_and_spark(platform):
    users, posts, events = platform
    duckdb, spark = ENGINES.build({"kind": "duckdb"}), ENGINES.build({"kind": "spark", "master": "local[1]"})
    times = [events["timestamp"].median(), events["timestamp"].max()]  # as of a cut, and of the end
    on_duckdb, on_spark = ([(s := features.FeatureSnapshots.build(users, events, posts, times, engine=engine)).users,
                            s.posts] for engine in (duckdb, spark))
    user_table = on_duckdb[0]
    assert user_table["n_views"].sum() > 0 and user_table["n_likes"].sum() > 0
    assert any(column.startswith("like_rate_") for column in user_table)
    assert user_table.groupby("as_of")["n_views"].sum().is_monotonic_increasing
    for table_on_duckdb, table_on_spark in zip(on_duckdb, on_spark):
        pd.testing.assert_frame_equal(table_on_duckdb, table_on_spark, check_dtype=False)



@pytest.fixture(scope="module")
def viewing(tiny_platform):
    """The tiny platform's video views and videos, with hashed-looking string item ids and watch times."""
    items = tiny_platform["videos"].assign(item_id=lambda d: as_text(d["video_id"], "v-"),
                                           categories=lambda d: d["category"].map(lambda c: [c]))
    views = tiny_platform["video_views"].dropna(subset=["watched_at"]).rename(columns={"watched_at": "timestamp"})
    return views.assign(item_id=as_text(views["video_id"], "v-"), rating=np.nan)[
        ["user_id", "item_id", "timestamp", "watch_seconds", "rating"]], items[["item_id", "categories"]]


@pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java (scripts/install.sh --dev installs it)")
def test_viewing_histories_are_the_same_on_duckdb_and_spark(viewing):
    views, items = viewing
    on_duckdb, on_spark = (features.viewer_history(views, items, engine=ENGINES.build(spec))
                           for spec in ({"kind": "duckdb"}, {"kind": "spark", "master": "local[1]"}))
    assert on_duckdb["n_views"].sum() == len(views)
    assert on_duckdb.filter(like="category_share_").sum(axis=1).round(9).eq(1).all()
    pd.testing.assert_frame_equal(on_duckdb.drop(columns="as_of"), on_spark.drop(columns="as_of"),
                                  check_dtype=False)
    assert on_duckdb["as_of"].iloc[0] == on_spark["as_of"].iloc[0] == views["timestamp"].max()


def test_threads_of_a_service_share_the_in_process_engine_one_call_at_a_time(viewing):
    """Each request computes one user's history on the process's DuckDB connection, which refuses a second
    call while busy: the calls take turns and each gets its own user's row."""
    views, items = viewing
    users = views["user_id"].unique()[:40]
    together = features.viewer_history(views[views["user_id"].isin(users)], items).set_index("user_id")

    def alone(user):
        return features.viewer_history(views[views["user_id"] == user], items).set_index("user_id")

    with ThreadPoolExecutor(8) as pool:
        rows = list(pool.map(alone, np.repeat(users, 3)))
    for row in rows:
        user = row.index[0]
        pd.testing.assert_series_equal(row.loc[user, ["n_views", "n_items", "history_span_days"]],
                                       together.loc[user, ["n_views", "n_items", "history_span_days"]])


def test_an_unknown_engine_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown engine kind 'polars'.*duckdb.*spark"):
        ENGINES.build({"kind": "polars"})


def test_stacked_snapshots_equal_the_features_computed_as_of_each_time(platform):
    """Snapshots add up per-period counts (distinct posts and days where first seen); one time is a
    plain distinct count: both must give the same table."""
    users, posts, events = platform
    times = events["timestamp"].quantile([0.3, 0.6, 0.9]).tolist() + [events["timestamp"].max()]
    snapshots = features.FeatureSnapshots.build(users, events, posts, times)
    for time in times:
        stacked_users, stacked_posts = snapshots.at(time)
        assert stacked_users["n_posts_seen"].sum() > 0
        pd.testing.assert_frame_equal(stacked_users, features.user_features(users, events, posts, as_of=time))
        pd.testing.assert_frame_equal(stacked_posts, features.post_features(posts, events, as_of=time))
