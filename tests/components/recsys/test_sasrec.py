"""SASRec learns the order of interactions: what comes next, not only what is popular."""

import pickle

import numpy as np
import pandas as pd
import pytest

from socialml.components.recsys.post_feed import PostFeedModel
from socialml.components.recsys.sasrec import SASRec


@pytest.mark.parametrize("loss", [{"loss": "bce"}, {"loss": "cross_entropy"},
                                  {"loss": "cross_entropy", "negatives": 8}], ids=["bce", "softmax", "sampled"])
def test_sasrec_predicts_the_next_item_of_a_sequence_it_has_seen_the_pattern_of(loss):
    rng = np.random.default_rng(0)
    # Every user walks the same cycle of 30 items from a random start: the next item is the last + 1.
    walks = [(np.arange(rng.integers(5, 20)) + rng.integers(0, 30)) % 30 for _ in range(300)]
    model = SASRec(factors=32, epochs=60, max_length=20, dropout=0.1, batch_size=64, **loss).fit(walks, 30)
    assert model.losses_[-1] < model.losses_[0] / 10
    probes = [np.array([3, 4, 5, 6]), np.array([27, 28]), np.array([15, 16, 17, 18, 19, 20])]
    scores = model.score(probes)
    for probe, row in zip(probes, scores):
        row[probe] = -np.inf  # a feed never offers what the user already had
        assert row.argmax() == (probe[-1] + 1) % 30
    assert not model.score([np.array([], dtype=int)]).any()  # nothing known: no preference
    saved = pickle.loads(pickle.dumps(model))  # as Kedro's pickle dataset and MLflow store it
    np.testing.assert_array_equal(saved.score(probes), model.score(probes))


@pytest.mark.parametrize("options", [{"negatives": 5}, {"loss": "cross_entropy", "negatives": -1}])
def test_sasrec_refuses_negatives_it_would_not_draw(options):
    with pytest.raises(ValueError, match="negatives"):
        SASRec(epochs=1, **options).fit([np.array([0, 1, 2])], 3)


def test_sasrec_does_not_read_a_drawn_item_as_a_negative_where_it_is_the_next_item():
    # One item in the catalogue: every draw is the next item itself, so nothing is left to tell it from.
    model = SASRec(epochs=2, factors=8, max_length=4, loss="cross_entropy", negatives=4).fit([np.array([0, 0, 0])] * 3, 1)
    assert model.losses_ == [0.0, 0.0]


@pytest.mark.parametrize("loss", ["bce", "cross_entropy"])
def test_sasrec_trains_when_a_user_had_every_item(loss):
    # No item is left to sample as the original loss's negative for the second user: it learns from its
    # positives alone instead of drawing forever.
    for users in ([np.array([0, 1]), np.array([0, 1, 2])], [np.array([0, 1, 2])]):
        model = SASRec(epochs=2, factors=8, max_length=4, loss=loss).fit(users, 3)
        assert len(model.losses_) == 2 and np.isfinite(model.losses_).all()


def test_sasrec_is_a_post_feed_generator_over_likes_in_time_order(feed):
    log, posts, users, _ = feed
    model = PostFeedModel(generators={"sasrec": {"kind": "sasrec", "factors": 8, "epochs": 2, "max_length": 16}}
                          ).fit(log, posts, users)
    history = model.history_
    liked = log[log["action"] == "like"].sort_values("timestamp", kind="stable")
    user = liked["user_id"].iloc[0]
    expected = history.posts.get_indexer(liked.loc[liked["user_id"] == user, "post_id"])
    np.testing.assert_array_equal(history.sequences[history.user_rows[user]], expected)
    requests = pd.DataFrame({"request_id": [0, 1], "user_id": [user, -42],
                             "request_time": [log["timestamp"].max()] * 2})
    assert model.recommend(requests, k=5).groupby("request_id").size().tolist() == [5, 5]
    with pytest.raises(ValueError, match="no option 'epoch'"):
        PostFeedModel(generators={"sasrec": {"kind": "sasrec", "epoch": 2}}).fit(log, posts, users)
