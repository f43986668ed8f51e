import pandas as pd
import pytest

from socialml.pipelines.feature_enrichment import create_pipeline
from socialml.pipelines.feature_enrichment.nodes import build_feed_snapshots


def params_with(**tables: set[str]) -> dict:
    """Parameters of an environment whose sources fill the given canonical tables."""
    return {"sources": {s: {"layout": s} for s in tables},
            "ingestion": {"layouts": {s: {t: {} for t in ts} for s, ts in tables.items()}}}


def test_feature_tables_are_built_only_where_their_inputs_exist():
    params = params_with(demo={"users", "posts", "feed_events", "regions", "views", "items", "clients", "holdings"},
                         bank={"clients", "holdings"}, survey={"answers"})
    every = create_pipeline("demo", params)
    assert every.outputs() == {"demo.feat_user_snapshots", "demo.feat_post_snapshots", "demo.feat_viewer_history",
                               "demo.feat_client_features"}
    assert "demo.prm_regions" in every.inputs()
    assert create_pipeline("bank", params).outputs() == {"bank.feat_client_features"}
    assert not create_pipeline("survey", params).nodes


def test_feature_snapshots_follow_the_post_feed_protocol_when_it_has_cuts():
    params = params_with(demo={"users", "posts", "feed_events"})
    ranker = {"generators": {"newest": {"kind": "newest"}}, "ranker": {"kind": "catboost"}}
    settings = {"split": {"kind": "time_split", "test_share": 0.1}, "positive_action": "like", "exclude": "positives",
                "k": [5], "models": {"ranker": ranker}}
    params["post_feed"] = {"sources": {"demo": settings}}
    assert "params:post_feed.sources.demo" in create_pipeline("demo", params).inputs()
    settings["split"] = {"kind": "leave_last_out"}  # no cut: features as of the end of the log only
    assert "params:post_feed.sources.demo" not in create_pipeline("demo", params).inputs()


def test_an_empty_feed_log_stops_the_snapshots_naming_the_table():
    empty = pd.DataFrame({"timestamp": pd.Series(dtype="datetime64[us]"), "user_id": pd.Series(dtype="int64"),
                          "post_id": pd.Series(dtype="int64"), "action": pd.Series(dtype="str")})
    with pytest.raises(ValueError, match="prm_feed_events has no event time"):
        build_feed_snapshots(pd.DataFrame({"user_id": [1]}), empty, pd.DataFrame({"post_id": [1]}),
                             {"user_prior_strength": 5.0, "post_prior_strength": 20.0}, {"kind": "duckdb"})
