import numpy as np
import pandas as pd
import pytest

from socialml.components.evaluation.ab_test import assign_group, compare_groups, served_hits


def test_groups_are_stable_per_user_and_split_in_the_configured_share():
    groups = [assign_group(user, "salt", 0.3) for user in range(20_000)]
    assert groups == [assign_group(user, "salt", 0.3) for user in range(20_000)]
    assert np.mean(np.array(groups) == "test") == pytest.approx(0.3, abs=0.015)
    other_salt = [assign_group(user, "pepper", 0.3) for user in range(20_000)]
    assert np.mean(np.array(groups) != np.array(other_salt)) > 0.3  # a new salt reshuffles users
    assert {assign_group(user, "salt", 0.0) for user in range(100)} == {"control"}
    with pytest.raises(ValueError, match="test_share"):
        assign_group(1, "salt", 1.5)


def test_a_served_feed_is_a_hit_only_for_a_like_of_its_posts_within_the_horizon():
    t0 = pd.Timestamp("2024-01-01")
    served = pd.DataFrame({"request_id": [0, 1, 2], "user_id": [1, 1, 2], "exp_group": ["control", "control", "test"],
                           "timestamp": [t0, t0 + pd.Timedelta(days=3), t0], "post_ids": [[10, 11], [12], [10]]})
    events = pd.DataFrame({"user_id": [1, 1, 2, 2], "post_id": [11, 12, 10, 10],
                           "timestamp": [t0 + pd.Timedelta(hours=1), t0 + pd.Timedelta(days=5), t0 - pd.Timedelta(hours=1),
                                         t0 + pd.Timedelta(hours=2)],
                           "action": ["like", "like", "like", "view"]})
    hits = served_hits(served, events, "like", horizon_hours=24)
    assert hits["hit"].tolist() == [True, False, False]  # late like; a like before serving; a view
    # String ids (as the JSON feed log gives them back) match string ids in the events.
    as_text = served.assign(user_id=served["user_id"].map("u-{}".format),
                            post_ids=served["post_ids"].map(lambda ids: [f"post-{i}" for i in ids]))
    events_text = events.assign(user_id=events["user_id"].map("u-{}".format), post_id=events["post_id"].map("post-{}".format))
    assert served_hits(as_text, events_text, "like", horizon_hours=24)["hit"].tolist() == [True, False, False]


def test_group_comparison_reports_rates_and_a_two_sided_p_value():
    hits = pd.DataFrame({"exp_group": ["control"] * 1000 + ["test"] * 1000,
                         "hit": [True] * 500 + [False] * 500 + [True] * 560 + [False] * 440})
    result = compare_groups(hits)
    assert result["hit_rate_control"] == 0.5 and result["hit_rate_test"] == 0.56
    assert result["z"] == pytest.approx(2.687, abs=0.01) and result["p_value"] == pytest.approx(0.0072, abs=0.0005)
    same = compare_groups(pd.DataFrame({"exp_group": ["control", "test"] * 50, "hit": [True, True] * 50}))
    assert np.isnan(same["p_value"])  # no variance, no test
