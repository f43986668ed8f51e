import json

import pandas as pd
import pytest

from socialml.components.core.errors import DataStop
from socialml.pipelines.post_feed.nodes import compare_ab_groups, split_post_feed

AB_TEST = {"horizon_hours": 24, "control": "ranker", "test": "ranker_text"}


def test_the_ab_report_is_strict_json_when_no_feed_was_liked():
    feed_log = pd.DataFrame({"timestamp": ["2024-01-01T08:00:00", "2024-01-01T09:00:00"], "user_id": [1, 2],
                             "exp_group": ["control", "test"], "model": ["ranker", "ranker_text"],
                             "post_ids": [[10, 11], [12]]})
    events = pd.DataFrame({"user_id": [1], "post_id": [10], "action": ["view"],
                           "timestamp": pd.to_datetime(["2024-01-01T08:30:00"])})
    report, metrics, _ = compare_ab_groups(feed_log, events, AB_TEST, {"positive_action": "like"})
    assert report["hit_rate_control"] == report["hit_rate_test"] == 0.0
    assert report["z"] is None and report["p_value"] is None  # no hit anywhere: no test, said as null
    json.dumps(report, allow_nan=False)
    assert "ab_test/z" not in metrics and metrics["ab_test/hit_rate_test"]["value"] == 0.0


def test_a_log_without_the_positive_action_stops_naming_the_actions_it_has():
    events = pd.DataFrame({"user_id": [1, 1, 2], "post_id": [10, 11, 10], "action": ["view"] * 3,
                           "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"])})
    settings = {"positive_action": "like", "split": {"kind": "time_split", "test_share": 0.2}}
    with pytest.raises(DataStop, match=r"feed_events: no event is a 'like' \(the log's actions: \{'view': 3\}\).*"
                                       r"set post_feed's positive_action to one the log has"):
        split_post_feed(events, settings)
    history, requests, targets = split_post_feed(events, {**settings, "positive_action": "view"})
    assert len(requests) >= 1 and len(history) + len(targets) >= 3
