from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from socialml.components.data.features import FeatureSnapshots
from socialml.components.evaluation.metrics import ranking_scores
from socialml.components.evaluation.protocols import split_feed, time_cut
from socialml.components.recsys.post_feed import PostFeedModel
from socialml.components.recsys.post_feed.generators import GENERATORS, SharedScoreGenerator


RANKER = {"generators": {"recent_popularity": {"kind": "recent_popularity"}, "newest": {"kind": "newest"},
                         "topic_match": {"kind": "topic_match"}, "als": {"kind": "als", "factors": 4}},
          "candidates": 15, "ranker": {"kind": "catboost", "iterations": 20, "depth": 3},
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


def test_request_times_in_any_unit_and_past_2262_rank_every_published_post(feed, capfd):
    log, posts, users, _ = feed
    model = PostFeedModel(**RANKER).fit(log, posts, users)
    user = np.array([log["user_id"].iloc[0]])
    newest = posts["created_at"].max().to_datetime64()
    at_newest = model.rank_posts(user, np.array([newest]), k=5)
    for later in (np.datetime64("2262-04-12", "us"), np.datetime64("9999-12-31T23:59:59", "s")):
        assert len(model.rank_posts(user, np.array([later]), k=5).post_id) == 5
    assert model.rank_posts(user, np.array([newest.astype("datetime64[s]")]), k=5).post_id.tolist() == \
        at_newest.post_id.tolist()  # the unit alone changes nothing
    capfd.readouterr()
    assert model.rank_posts(user, np.array([pd.Timestamp("1970-01-01")], dtype=object), k=5).post_id.size == 0
    assert capfd.readouterr() == ("", "")  # nothing to score: CatBoost is not asked (it prints then)


def test_an_unknown_user_gets_a_cold_start_feed(feed):
    log, posts, users, _ = feed
    registered_without_events = users["user_id"].iloc[0]
    model = PostFeedModel(**RANKER).fit(log[log["user_id"] != registered_without_events], posts, users)
    request = pd.DataFrame({"request_id": [0], "user_id": [-42], "request_time": [log["timestamp"].max()]})
    assert len(model.recommend(request, k=5)) == 5
    assert not model.history_.knows(-42) and not model.history_.knows(registered_without_events)
    assert model.history_.knows(log.loc[log["user_id"] != registered_without_events, "user_id"].iloc[0])


def test_text_without_embeddings_and_bad_settings_are_refused(feed):
    log, posts, users, _ = feed
    with pytest.raises(ValueError, match="no post embeddings"):
        PostFeedModel(**{**RANKER, "use_text": True}).fit(log, posts, users)
    with pytest.raises(ValueError, match="exclude must be"):
        PostFeedModel(**{**RANKER, "exclude": "everything"})
    with pytest.raises(KeyError, match="request_time"):
        PostFeedModel(**RANKER).fit(log, posts, users).recommend(pd.DataFrame({"request_id": [0], "user_id": [1]}))


def test_generators_come_from_one_registry_with_every_recommender_kind_and_checked_options():
    assert {"recent_popularity", "newest", "topic_match", "als", "ease", "item_knn"} <= set(GENERATORS.kinds)
    assert set(GENERATORS.options("ease")) == {"l2"}
    with pytest.raises(ValueError, match=r"candidate generator 'ease' has no option 'factors'; "
                                         r"its options are \['l2'\]"):
        PostFeedModel(generators={"ease": {"kind": "ease", "factors": 8}})
    with pytest.raises(ValueError, match="candidate generator 'newest' has no option 'days'"):
        PostFeedModel(generators={"newest": {"kind": "newest", "days": 3}})
    with pytest.raises(ValueError, match="post feed ranker 'catboost': option 'depth' must be int"):
        PostFeedModel(generators={"newest": {"kind": "newest"}}, ranker={"kind": "catboost", "depth": "deep"})


@dataclass
class OldestFirst(SharedScoreGenerator):
    """A generator defined outside the project: the oldest posts first."""

    def post_scores(self, history):
        return -np.nan_to_num(history.created, nan=np.inf)


def test_a_new_generator_joins_the_registry_and_ranks_with_the_rest(feed, monkeypatch):
    log, posts, users, _ = feed
    monkeypatch.setitem(GENERATORS.kinds, "oldest_first", OldestFirst)
    model = PostFeedModel(generators={"oldest": {"kind": "oldest_first"}}, exclude="none").fit(log, posts, users)
    request = pd.DataFrame({"request_id": [0], "user_id": [-42], "request_time": [log["timestamp"].max()]})
    oldest = posts.sort_values(["created_at", "post_id"], kind="stable")["post_id"].head(5).tolist()
    assert model.recommend(request, k=5)["post_id"].tolist() == oldest
    ranked = PostFeedModel(**{**RANKER, "generators": {**RANKER["generators"], "oldest": {"kind": "oldest_first"}}})
    ranked.fit(log, posts, users)
    assert {"score_oldest", "rank_oldest"} <= set(ranked.feature_importance()["feature"])


def test_the_model_passes_its_seed_and_threads_to_the_ranker_unless_the_ranker_sets_them(feed):
    log, posts, users, _ = feed
    model = PostFeedModel(**{**RANKER, "seed": 7, "threads": 2}).fit(log, posts, users)
    assert (model.ranker_.seed, model.ranker_.threads) == (7, 2)
    own_seed = PostFeedModel(**{**RANKER, "ranker": {**RANKER["ranker"], "seed": 3}, "seed": 7}).fit(log, posts, users)
    assert own_seed.ranker_.seed == 3


def test_the_ranker_serves_the_features_it_was_trained_on(feed):
    """No training/serving skew: for a user and a time, the features the ranker learned from (read from
    the whole log's snapshots as of the inner cut) equal those of the model a service would have run
    then: fitted on the log up to the cut, with features computed from that log alone."""
    log, posts, users, _ = feed
    model = PostFeedModel(**RANKER)
    snapshots = FeatureSnapshots.build(users, log, posts, model.snapshot_times(log["timestamp"]))
    trained = model.training_rows(log, posts, users, snapshots=snapshots)
    then = log[log["timestamp"] < time_cut(log["timestamp"], RANKER["protocol"])]
    served = PostFeedModel(**RANKER).fit(then, posts, users, snapshots=FeatureSnapshots.build(
        users, then, posts, model.snapshot_times(then["timestamp"])))
    requests = trained.drop_duplicates("request_id").head(25)
    serving = served.explain(requests["user_id"].to_numpy(), requests["request_time"].to_numpy())
    trained = trained[trained["request_id"].isin(requests["request_id"])]
    keys = ["user_id", "request_time", "post_id"]
    both = trained.merge(serving, on=keys, how="outer", suffixes=("_trained", "_served"), indicator=True)
    assert (both["_merge"] == "both").all(), "the served model saw other candidates"
    names = serving.columns.drop([*keys, "score"])
    assert {"user_n_likes", "user_like_rate", "post_like_rate", "user_post_topic_match"} <= set(names)
    for name in names:
        np.testing.assert_array_equal(both[f"{name}_trained"], both[f"{name}_served"], err_msg=name)


def test_snapshots_give_the_model_the_features_it_would_compute_itself(feed):
    log, posts, users, _ = feed
    model = PostFeedModel(**RANKER)
    snapshots = FeatureSnapshots.build(users, log, posts, model.snapshot_times(log["timestamp"]))
    request = split_feed(log, {"kind": "time_split", "test_share": 0.2}, "like").requests.head(40)
    pd.testing.assert_frame_equal(model.fit(log, posts, users, snapshots=snapshots).recommend(request),
                                  PostFeedModel(**RANKER).fit(log, posts, users).recommend(request))
    with pytest.raises(KeyError, match="no feature snapshot as of"):
        PostFeedModel(**{**RANKER, "inner_splits": 2}).fit(log, posts, users, snapshots=snapshots)
    with pytest.raises(ValueError, match="leave_last_out split has no cut"):
        PostFeedModel(**{**RANKER, "protocol": {"kind": "leave_last_out"}}).fit(log, posts, users,
                                                                               snapshots=snapshots)
