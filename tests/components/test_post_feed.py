import numpy as np
import pandas as pd
import pytest

from socialml.components.metrics import ranking_scores
from socialml.components.post_feed import PostFeedModel, split_feed

T0 = pd.Timestamp("2024-01-01")


def events(rows):
    return pd.DataFrame(rows, columns=["timestamp", "user_id", "post_id", "action"]).assign(
        timestamp=lambda d: T0 + pd.to_timedelta(d["timestamp"], unit="h"))


def test_time_split_requests_each_user_at_their_first_event_after_the_cut():
    log = events([(1, 1, 10, "view"), (1, 1, 10, "like"), (5, 1, 11, "view"), (6, 1, 11, "like"),
                  (7, 1, 12, "like"), (6, 2, 10, "view"), (8, 3, 13, "like")])
    split = split_feed(log, {"kind": "time_split", "cut": str(T0 + pd.Timedelta(hours=5))}, "like")
    assert (split.history["timestamp"] < T0 + pd.Timedelta(hours=5)).all() and len(split.history) == 2
    assert split.requests["user_id"].tolist() == [1, 3]  # user 2 has no like after the cut
    assert split.requests["request_time"].tolist() == [T0 + pd.Timedelta(hours=5), T0 + pd.Timedelta(hours=8)]
    relevant = split.targets.groupby("request_id")["post_id"].agg(set).tolist()
    assert relevant == [{11, 12}, {13}]


def test_leave_last_out_keeps_timestamp_ties_in_log_order():
    log = events([(1, 1, 10, "view"), (2, 1, 11, "view"), (2, 1, 12, "view"), (2, 1, 12, "like"), (1, 2, 10, "view")])
    split = split_feed(log, {"kind": "leave_last_out"}, "view")
    assert split.targets["post_id"].tolist() == [12, 10]  # post 11 shares the last timestamp but comes first
    kept = set(zip(split.history["user_id"], split.history["post_id"]))
    assert kept == {(1, 10), (1, 11)}  # the held-out pair leaves the history with its like


def test_an_unknown_protocol_is_named():
    with pytest.raises(ValueError, match="unknown feed protocol 'random'"):
        split_feed(events([(1, 1, 10, "like")]), {"kind": "random"}, "like")


@pytest.fixture(scope="module")
def feed(tiny_platform):
    posts = tiny_platform["post_text"].rename(columns={"text": "doc_text", "image_text": "image2text",
                                                       "audio_text": "speech2text"})
    posts["topics"] = posts["topics"].str.split("|")
    users = tiny_platform["user_data"].query("age > 0").assign(gender=lambda d: d["gender"].map({0: "female", 1: "male"}))
    log = tiny_platform["feed_data"].query("user_id > 0").drop_duplicates()
    vectors = pd.DataFrame(np.random.default_rng(0).normal(size=(len(posts), 4)), columns=[f"pca_{i}" for i in range(4)])
    vectors.insert(0, "post_id", posts["post_id"])
    return log, posts, users, vectors


RANKER = {"generators": {"recent_popularity": {"kind": "recent_popularity"}, "newest": {"kind": "newest"},
                         "topic_match": {"kind": "topic_match"}, "als": {"kind": "als", "factors": 4}},
          "candidates": 15, "ranker": {"iterations": 20, "depth": 3},
          "protocol": {"kind": "time_split", "test_share": 0.3}}


@pytest.mark.parametrize("spec", [{"generators": {"recent_popularity": {"kind": "recent_popularity"}}}, RANKER,
                                  {**RANKER, "use_text": True, "text_components": True}])
def test_recommendations_are_available_unseen_and_k_per_request(feed, spec):
    log, posts, users, vectors = feed
    split = split_feed(log, {"kind": "time_split", "test_share": 0.2}, "like")
    model = PostFeedModel(**spec).fit(split.history, posts, users, vectors)
    recommended = model.recommend(split.requests, k=5)
    assert recommended.groupby("request_id").size().max() == 5
    assert set(recommended["request_id"]) == set(split.requests["request_id"])
    created = posts.set_index("post_id")["created_at"]
    times = split.requests.set_index("request_id")["request_time"]
    assert (created.loc[recommended["post_id"]].to_numpy() <= times.loc[recommended["request_id"]].to_numpy()).all()
    liked = split.history.query("action == 'like'")
    assert recommended.merge(liked, on=["user_id", "post_id"]).empty
    top = recommended.pivot(index="request_id", columns="rank", values="post_id").to_numpy()
    relevant = split.targets.groupby("request_id")["post_id"].agg(set).reindex(split.requests["request_id"])
    assert 0 <= ranking_scores(top, list(relevant), [5], len(posts))["hit_rate_at_5"] <= 1


def test_one_request_at_a_time_ranks_as_the_batch_does(feed):
    """The service's per-request path (rank_posts) and the evaluation's batches must agree exactly."""
    log, posts, users, vectors = feed
    split = split_feed(log, {"kind": "time_split", "test_share": 0.2}, "like")
    model = PostFeedModel(**{**RANKER, "use_text": True}).fit(split.history, posts, users, vectors)
    requests = pd.concat([split.requests.head(30), pd.DataFrame(
        {"request_id": [999], "user_id": [-42], "request_time": [split.requests["request_time"].max()]})])
    batch = model.recommend(requests, k=5, batch_size=7)
    for request in requests.itertuples():
        one = model.rank_posts(np.array([request.user_id]), np.array([request.request_time.to_datetime64()]), k=5)
        expected = batch[batch["request_id"] == request.request_id]
        assert one.post_id.tolist() == expected["post_id"].tolist()
        assert one.rank.tolist() == expected["rank"].tolist() == [1, 2, 3, 4, 5]
        np.testing.assert_allclose(one.score, expected["score"], rtol=1e-6)


def test_an_unknown_user_gets_a_cold_start_feed(feed):
    log, posts, users, _ = feed
    model = PostFeedModel(**RANKER).fit(log, posts, users)
    request = pd.DataFrame({"request_id": [0], "user_id": [-42], "request_time": [log["timestamp"].max()]})
    assert len(model.recommend(request, k=5)) == 5


def test_text_without_embeddings_and_bad_settings_are_refused(feed):
    log, posts, users, _ = feed
    with pytest.raises(ValueError, match="no post embeddings"):
        PostFeedModel(**{**RANKER, "use_text": True}).fit(log, posts, users)
    with pytest.raises(ValueError, match="exclude must be"):
        PostFeedModel(**{**RANKER, "exclude": "everything"})
    with pytest.raises(KeyError, match="request_time"):
        PostFeedModel(**RANKER).fit(log, posts, users).recommend(pd.DataFrame({"request_id": [0], "user_id": [1]}))


def test_ranking_scores_count_hits_ndcg_and_coverage():
    scores = ranking_scores(np.array([[1, 2, 3], [4, 5, None]]), [{3}, {9}], [1, 3], n_items=10)
    assert scores["hit_rate_at_1"] == 0 and scores["hit_rate_at_3"] == 0.5
    assert scores["ndcg_at_3"] == pytest.approx(0.5 * (1 / np.log2(4)))
    assert scores["coverage_at_3"] == 0.5
    by_string_ids = ranking_scores(np.array([["p-1", "p-2", "p-3"], ["p-4", "p-5", None]]), [{"p-3"}, {"p-9"}], [1, 3],
                                   n_items=10)
    assert by_string_ids == scores
