import numpy as np
import pandas as pd
import pytest

from socialml.components.evaluation.protocols import (
    assign_folds, history_ends, split_feed, train_test_rows, train_validation_test,
)

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


def test_folds_are_stratified_and_seeded_and_a_holdout_scores_one_fold():
    labels = pd.Series(["f"] * 50 + ["m"] * 50)
    folds = assign_folds(labels, {"kind": "kfold", "folds": 5, "seed": 0})
    assert (pd.crosstab(folds, labels) == 10).all().all()
    assert (folds == assign_folds(labels, {"kind": "kfold", "folds": 5, "seed": 0})).all()
    holdout = assign_folds(labels, {"kind": "holdout", "test_share": 0.2, "seed": 0})
    assert set(holdout) == {0, 1} and 0.05 < holdout.mean() < 0.4
    with pytest.raises(ValueError, match="kfold or holdout, got 'loo'"):
        assign_folds(labels, {"kind": "loo"})


def test_a_source_split_is_kept_and_an_unknown_one_is_named():
    given = pd.Series(["train", "validation", "test"])
    assert list(train_validation_test(given, {}, 0)) == ["train", "validation", "test"]
    drawn = train_validation_test(pd.Series([None] * 1000), {"train": 0.8, "validation": 0.1, "test": 0.1}, 0)
    assert 700 < (drawn == "train").sum() < 900
    with pytest.raises(ValueError, match=r"posts have splits \['dev'\]"):
        train_validation_test(pd.Series(["train", "dev"]), {}, 0, "posts")


def test_a_source_split_into_train_and_test_only_gets_validation_rows_from_its_training_rows():
    # Public sets often ship train and test only (emotion corpora, tweets).
    given = pd.Series(["train"] * 800 + ["test"] * 200)
    split = train_validation_test(given, {"train": 0.6, "validation": 0.2, "test": 0.2}, 0)
    assert (split[800:] == "test").all()  # the source's test rows stay test
    assert (split[:800] == "validation").sum() == 200  # 0.2 / (0.6 + 0.2) of its training rows
    assert (split == train_validation_test(given, {"train": 0.6, "validation": 0.2, "test": 0.2}, 0)).all()


def test_a_stratified_split_shares_out_every_stratum_rare_ones_included():
    # An unstratified draw of 60/20/20 leaves a topic of 10 posts with 0 test posts about 1 time in 9.
    rng = np.random.default_rng(3)
    strata = pd.Series(rng.choice(["common", "middle", "rare"], 5000, p=[0.9, 0.098, 0.002]))
    shares = {"train": 0.6, "validation": 0.2, "test": 0.2}
    split = train_validation_test(pd.Series([None] * 5000), shares, 0, strata=strata)
    counts = pd.crosstab(strata, split)
    expected = pd.DataFrame({part: strata.value_counts() * share for part, share in shares.items()})
    assert ((counts - expected.loc[counts.index, counts.columns]).abs() <= 2).all().all()
    assert (split == train_validation_test(pd.Series([None] * 5000), shares, 0, strata=strata)).all()
    assert not (split == train_validation_test(pd.Series([None] * 5000), shares, 1, strata=strata)).all()
    singletons = train_validation_test(pd.Series([None] * 10), shares, 0, strata=pd.Series([str(i) for i in range(10)]))
    assert set(singletons) == set(shares)  # strata of one row each are drawn over every part, not all to train
    with pytest.raises(ValueError, match="strata have 3 values for 10 rows"):
        train_validation_test(pd.Series([None] * 10), shares, 0, strata=pd.Series(["a"] * 3))


def test_validation_drawn_from_a_source_train_split_is_stratified_too():
    given = pd.Series(["train"] * 800 + ["test"] * 200)
    strata = pd.Series(["a"] * 790 + ["b"] * 10 + ["a"] * 200)
    split = train_validation_test(given, {"train": 0.6, "validation": 0.2, "test": 0.2}, 0, strata=strata)
    assert (split[800:] == "test").all()
    assert abs((split[:790] == "validation").sum() - 197.5) <= 2 and 2 <= (split[790:800] == "validation").sum() <= 3


@pytest.mark.parametrize("given, message", [
    (["train"] * 5, r"posts: no test rows: the source's split column has \{'train': 5\}"),
    ([None] * 2, r"posts: no (train|validation|test)( or (validation|test))? rows: a random split of 2 rows"),
])
def test_a_split_without_a_part_stops_naming_the_table_and_the_part(given, message):
    with pytest.raises(ValueError, match=message):
        train_validation_test(pd.Series(given, dtype=object), {"train": 0.6, "validation": 0.2, "test": 0.2}, 0,
                              "posts")


def test_sentiment_rows_without_test_rows_stop_naming_the_table():
    with pytest.raises(ValueError, match="sentiment_texts: no test rows"):
        train_test_rows(pd.Series(["train"] * 4), pd.Series(["positive", "negative"] * 2), 0.2, 0, "sentiment_texts")
    train, test = train_test_rows(pd.Series([None] * 10), pd.Series(["positive", "negative"] * 5), 0.2, 0)
    assert test.sum() == 2 and not (train & test).any()


def test_history_ends_are_the_last_events_of_the_nested_time_split_histories():
    log = events([(h, h % 5, h % 7, "like" if h % 3 == 0 else "view") for h in range(200)])
    protocol = {"kind": "time_split", "test_share": 0.25}
    expected, history = [log["timestamp"].max()], log
    for _ in range(2):
        history = split_feed(history, protocol, "like").history
        expected.append(history["timestamp"].max())
    assert history_ends(log["timestamp"], protocol, 2) == expected
    with pytest.raises(ValueError, match="only a time_split has a cut to compute features as of, not 'leave_last_out'"):
        history_ends(log["timestamp"], {"kind": "leave_last_out"}, 1)
