import pandas as pd
import pytest

from socialml.components.evaluation.metrics import feed_scores
from socialml.pipelines.post_feed.nodes import compare_post_feed_models, post_feed_intervals


def _feeds():
    requests = pd.DataFrame({"request_id": [f"r{i}" for i in range(60)]})
    targets = pd.DataFrame({"request_id": requests["request_id"], "post_id": [f"p{i % 7}" for i in range(60)]})
    ranked = lambda posts: pd.DataFrame([(r, rank + 1, post) for r, row in zip(requests["request_id"], posts)
                                         for rank, post in enumerate(row)], columns=["request_id", "rank", "post_id"])
    popular = ranked([["p0", "p1"]] * 60)  # right for the requests whose post is p0 or p1
    oracle = ranked([[f"p{i % 7}", "p9"] for i in range(60)])  # always right
    return requests, targets, {"popularity": popular, "oracle": oracle}


def test_feed_intervals_pair_each_model_with_the_first_listed_when_no_baseline_is_named():
    requests, targets, feeds = _feeds()
    out = post_feed_intervals(requests, targets, {"k": [1, 2], "bootstrap_runs": 50}, **feeds)
    popular_hits = feed_scores(feeds["popularity"], requests, targets, [2], 10)["hit_rate_at_2"]
    assert out["oracle"]["hit_rate_at_2_low"] == out["oracle"]["hit_rate_at_2_high"] == 1.0
    assert out["popularity"]["hit_rate_at_2_low"] < popular_hits < out["popularity"]["hit_rate_at_2_high"]
    assert 0 < out["oracle"]["gain_low"] < out["oracle"]["gain_vs_popularity"] < out["oracle"]["gain_high"]
    scores = {name: feed_scores(frame, requests, targets, [1, 2], 10) for name, frame in feeds.items()}
    table, _ = compare_post_feed_models(out, **scores)
    assert table["model"].tolist() == ["oracle", "popularity"] and "ndcg_at_2_low" in table
    with pytest.raises(ValueError, match="baseline 'ease' is not among"):
        post_feed_intervals(requests, targets, {"k": [1], "baseline": "ease"}, **feeds)
