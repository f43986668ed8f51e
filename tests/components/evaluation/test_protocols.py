import pandas as pd
import pytest

from socialml.components.evaluation.protocols import assign_folds, history_ends, split_feed, train_validation_test

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
    assert list(train_validation_test(pd.Series(["train", "test"]), {}, 0)) == ["train", "test"]
    drawn = train_validation_test(pd.Series([None] * 1000), {"train": 0.8, "validation": 0.1, "test": 0.1}, 0)
    assert 700 < (drawn == "train").sum() < 900
    with pytest.raises(ValueError, match=r"splits \['dev'\]"):
        train_validation_test(pd.Series(["train", "dev"]), {}, 0)


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
