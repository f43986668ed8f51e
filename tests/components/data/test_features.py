import numpy as np
import pandas as pd
import pytest

from socialml.components.data import features

USERS = pd.DataFrame({"user_id": [1, 2, 3], "gender": ["male", "female", None], "age": [20.0, 40.0, None],
                      "region": ["A", "B", None]})
POSTS = pd.DataFrame({
    "post_id": [10, 11, 12],
    "created_at": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 21:00", "2024-01-02 12:00"]),
    "doc_text": ["Ура!!! 👍👍", "", "Что? ... да"],
    "image2text": ["", "кот", ""],
    "speech2text": ["", "", ""],
    "topics": [["sport"], ["humor", "sport"], []],
})
FEED = pd.DataFrame({
    # user 1: views 10 (Mon 08:00) and 11 (Sat 23:00), likes 10; user 2: views 10 (Mon 13:00)
    "timestamp": pd.to_datetime(["2024-01-01 08:00", "2024-01-06 23:00", "2024-01-01 08:01", "2024-01-01 13:00"]),
    "user_id": [1, 1, 1, 2],
    "post_id": [10, 11, 10, 10],
    "action": ["view", "view", "like", "view"],
})
REGIONS = pd.DataFrame({"region": ["A", "B"], "median_income_rub": [50_000.0, 90_000.0], "main_city": ["a", "b"]})


def test_user_activity_counts_and_shares():
    out = features.user_features(USERS, FEED, POSTS, REGIONS, prior_strength=0.0).set_index("user_id")
    assert out.loc[1, ["n_views", "n_likes", "active_days"]].tolist() == [2, 1, 2]
    assert out.loc[1, "like_rate"] == pytest.approx(0.5)
    assert out.loc[1, "view_share_morning"] == 0.5 and out.loc[1, "view_share_evening"] == 0.5
    assert out.loc[1, "view_share_mon"] == 0.5 and out.loc[1, "view_share_sat"] == 0.5
    day_parts = [c for c in out if c.startswith("view_share_") and c.split("_")[-1] in features.DAY_PARTS]
    assert np.allclose(out.loc[[1, 2], day_parts].sum(axis=1), 1.0)
    # A user with no events has zero counts and shares, and an unknown (NaN) like rate.
    assert out.loc[3, "n_views"] == 0 and out.loc[3, day_parts].sum() == 0 and np.isnan(out.loc[3, "like_rate"])


def test_topic_like_rates_are_smoothed_towards_the_global_rate():
    raw = features.user_features(USERS, FEED, POSTS, prior_strength=0.0).set_index("user_id")
    assert raw.loc[1, "like_rate_sport"] == pytest.approx(0.5)  # liked 1 of 2 sport posts
    assert raw.loc[1, "like_rate_humor"] == pytest.approx(0.0)
    smooth = features.user_features(USERS, FEED, POSTS, prior_strength=3.0).set_index("user_id")
    global_rate = 1 / 3
    assert smooth.loc[1, "like_rate_humor"] == pytest.approx(3 * global_rate / 4)


def test_no_events_give_zero_counts_and_no_rates():
    empty = FEED.iloc[:0]
    users = features.user_features(USERS, empty, POSTS).set_index("user_id")
    assert users[["n_views", "n_likes", "active_days"]].eq(0).all().all() and users["like_rate"].isna().all()
    posts = features.post_features(POSTS, empty).set_index("post_id")
    assert posts[["n_views", "n_likes"]].eq(0).all().all()


def test_uuid_users_and_a_far_future_event_keep_their_ids_and_times():
    ids = {1: "0b7d3a5e-6c1f-4e0a-9a49-3f1c2b8d7e61", 2: "c2f1e4d8-1a2b-4c3d-8e9f-0a1b2c3d4e5f"}
    users = USERS.dropna(subset=["age"]).assign(user_id=lambda d: d["user_id"].map(ids))
    late = pd.DataFrame({"timestamp": pd.to_datetime(["2250-06-01 23:00"]).astype(FEED["timestamp"].dtype),
                         "user_id": [1], "post_id": [11], "action": ["view"]})
    feed = pd.concat([FEED, late], ignore_index=True).assign(user_id=lambda d: d["user_id"].map(ids))
    out = features.user_features(users, feed, POSTS).set_index("user_id")
    assert out.loc[ids[1], "n_views"] == 3 and out.loc[ids[2], "n_views"] == 1
    assert out.loc[ids[1], "last_seen"] == pd.Timestamp("2250-06-01 23:00")
    assert out["last_seen"].dtype == FEED["timestamp"].dtype


def test_regional_statistics_are_joined_by_region():
    out = features.user_features(USERS, FEED, POSTS, REGIONS).set_index("user_id")
    assert out.loc[2, "region_median_income_rub"] == 90_000
    assert np.isnan(out.loc[3, "region_median_income_rub"])
    assert "region_main_city" not in out  # only numeric statistics


def test_post_text_and_popularity_features():
    out = features.post_features(POSTS, FEED, prior_strength=0.0).set_index("post_id")
    assert out.loc[10, "doc_text_emoji"] == 2
    assert out.loc[10, "doc_text_exclamations"] == 3
    assert out.loc[12, "doc_text_questions"] == 1 and out.loc[12, "doc_text_ellipses"] == 1
    assert out.loc[11, "n_text_fields"] == 1 and out.loc[12, "n_topics"] == 0
    assert out.loc[11, ["topic_humor", "topic_sport"]].tolist() == [1, 1]
    assert out.loc[10, ["n_views", "n_likes", "like_rate"]].tolist() == [2, 1, 0.5]
    assert out.loc[11, "created_hour"] == 21


def test_viewer_history_category_shares_and_recency():
    views = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 2, 1],
                          "timestamp": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-02"]),
                          "watch_seconds": [10.0, 20.0, 30.0], "rating": [None, None, None]})
    items = pd.DataFrame({"item_id": [1, 2, 3], "categories": [["music"], ["games", "music"], ["news"]]})
    out = features.viewer_history(views, items).set_index("user_id")
    assert (out["as_of"] == pd.Timestamp("2024-01-03")).all()
    assert out.loc[1, "category_share_music"] == pytest.approx(2 / 3)
    assert (out["category_share_news"] == 0).all()  # every category of the catalogue, viewed or not
    assert out.loc[2, "category_share_games"] == 0
    assert out.loc[2, "days_since_last_view"] == 1 and out.loc[1, "history_span_days"] == 2
    assert out.loc[1, "mean_watch_seconds"] == 15 and "mean_rating" not in out



def test_a_history_of_items_the_catalogue_lacks_still_has_every_category_column():
    """A request may send only videos the item table has never seen: zero shares, not missing columns."""
    items = pd.DataFrame({"item_id": ["v-1", "v-2"], "categories": [["music"], ["news"]]})
    views = pd.DataFrame({"user_id": ["u-1"], "item_id": ["v-404"], "timestamp": [pd.Timestamp("2024-01-01 20:00")],
                          "watch_seconds": [30.0], "rating": [None]})
    out = features.viewer_history(views, items).set_index("user_id")
    assert out.loc["u-1", ["category_share_music", "category_share_news"]].tolist() == [0.0, 0.0]
    assert out.loc["u-1", "view_share_evening"] == 1.0 and out.loc["u-1", "mean_watch_seconds"] == 30.0


def test_client_features_parse_numbers_and_flag_holdings():
    clients = pd.DataFrame({"client_id": [1, 2], "age": [" 35", " 23"], "segment": ["01 - TOP", "03"]})
    holdings = pd.DataFrame({"client_id": [1, 1, 2], "product_id": ["a", "b", "a"],
                             "since": pd.to_datetime(["2020-01-01", "2021-01-01", "2021-01-01"])})
    out = features.client_features(clients, holdings).set_index("client_id")
    assert out["age"].tolist() == [35, 23]
    assert out.loc[1, ["holds_a", "holds_b", "n_products"]].tolist() == [1, 1, 2]
    assert out.loc[2, "holds_b"] == 0 and out.loc[1, "days_since_last_product"] == 0


def test_features_as_of_a_time_ignore_every_event_after_it():
    """No leakage: a feature as of T is the same whatever happens after T (here user 2 likes everything)."""
    as_of = pd.Timestamp("2024-01-01 23:59")
    future = pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-02 00:00", "2030-01-01 00:00", "2250-01-01 00:00"]),
                           "user_id": [2, 2, 1], "post_id": [11, 12, 12], "action": ["like", "like", "view"]})
    with_future = pd.concat([FEED, future], ignore_index=True)
    before = FEED[FEED["timestamp"] <= as_of]
    for build, key in ((lambda events, **kw: features.user_features(USERS, events, POSTS, REGIONS, **kw), "user_id"),
                       (lambda events, **kw: features.post_features(POSTS, events, **kw), "post_id")):
        pd.testing.assert_frame_equal(build(with_future, as_of=as_of).set_index(key), build(before).set_index(key))
    assert features.user_features(USERS, with_future, POSTS).set_index("user_id").loc[2, "n_likes"] == 2


def test_a_topic_no_event_touched_yet_keeps_its_column_at_the_global_rate():
    """A model trained on an early window reads the same columns as one serving on the whole log."""
    only_sport = FEED[FEED["post_id"] == 10]  # post 11 (humor) never seen
    out = features.user_features(USERS, only_sport, POSTS, prior_strength=1.0).set_index("user_id")
    assert {"like_rate_sport", "like_rate_humor"} <= set(out.columns)
    global_rate = 1 / 2  # one like over two views
    assert out.loc[1, "like_rate_humor"] == pytest.approx(global_rate)


def test_snapshots_stack_each_time_and_name_a_time_they_lack():
    times = [pd.Timestamp("2024-01-01 08:00"), FEED["timestamp"].max()]
    snapshots = features.FeatureSnapshots.build(USERS, FEED, POSTS, times, REGIONS)
    assert snapshots.times() == times
    users, posts = snapshots.at(times[0])
    assert "as_of" not in users
    assert users.set_index("user_id").loc[1, "n_views"] == 1  # the 08:00 view, not the later ones
    pd.testing.assert_frame_equal(posts, features.post_features(POSTS, FEED, as_of=times[0]))
    with pytest.raises(KeyError, match="no feature snapshot as of 2024-01-03 00:00:00"):
        snapshots.at(pd.Timestamp("2024-01-03"))
