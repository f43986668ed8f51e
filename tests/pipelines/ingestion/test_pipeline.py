import logging

import pandas as pd
import pytest

from socialml.components.core.errors import SettingsError
from socialml.components.data.ingest import EmptySourceError, IngestionStopped
from socialml.pipelines.ingestion import create_pipeline, create_publish_pipeline
from socialml.pipelines.ingestion.nodes import build_ingestion_report, ingest_table

LAYOUT = {
    "users": {"raw": "user_data", "columns": {"user_id": "uid"}},
    "posts": {"raw": "posts", "columns": {"post_id": "pid"}, "add_ids_from": {"raw": "ids", "column": "pid"}},
    "feed_events": {"raw": "feed", "columns": {"timestamp": "t", "user_id": "uid", "post_id": "pid", "action": "a"}},
}


def params_for(source: str, layout: dict, **spec) -> dict:
    return {"sources": {source: {"layout": f"{source}_layout", **spec}},
            "ingestion": {"layouts": {f"{source}_layout": layout}, "checks": {}}}


def test_one_namespaced_ingest_node_per_table_with_references_first(caplog):
    pipeline = create_pipeline("shop", params_for("shop", LAYOUT))
    names = [n.name for n in pipeline.nodes]
    assert set(names) == {"shop.ingestion.ingest_users", "shop.ingestion.ingest_posts",
                          "shop.ingestion.ingest_feed_events", "shop.ingestion.build_ingestion_report"}
    feed = next(n for n in pipeline.nodes if n.name == "shop.ingestion.ingest_feed_events")
    assert set(feed.inputs) == {"params:ingestion.layouts.shop_layout.feed_events", "params:ingestion.checks",
                                "shop.raw_feed", "shop.prm_users", "shop.prm_posts", "shop.prm_rejected_users",
                                "shop.prm_rejected_posts", "params:engine"}
    assert set(feed.outputs) == {"shop.prm_feed_events@engine", "shop.prm_rejected_feed_events",
                                 "shop.counts_feed_events"}  # the feed log is checked and written on the engine
    posts = next(n for n in pipeline.nodes if n.name == "shop.ingestion.ingest_posts")
    assert "shop.raw_ids" in posts.inputs
    users = next(n for n in pipeline.nodes if n.name == "shop.ingestion.ingest_users")
    with caplog.at_level(logging.INFO, logger="socialml.pipelines.ingestion.nodes"):
        users.run({"params:ingestion.layouts.shop_layout.users": LAYOUT["users"], "params:ingestion.checks": {},
                   "shop.raw_user_data": pd.DataFrame({"uid": [1, 2]})})
    # Each source has its own users or posts: the log and a stop say whose.
    assert "shop.users: 2 candidate rows, 2 accepted, 0 rejected" in caplog.messages
    with pytest.raises(EmptySourceError, match=r"^shop\.users: raw frame 'user_data' has a header but no rows"):
        users.run({"params:ingestion.layouts.shop_layout.users": LAYOUT["users"], "params:ingestion.checks": {},
                   "shop.raw_user_data": pd.DataFrame({"uid": []})})
    with pytest.raises(IngestionStopped, match=r"^ingestion of 'shop\.users' stopped: 1 of 2 rows rejected"):
        users.run({"params:ingestion.layouts.shop_layout.users": LAYOUT["users"],
                   "params:ingestion.checks": {"max_rejected_share": 0.05},
                   "shop.raw_user_data": pd.DataFrame({"uid": ["7", "not an id"]})})
    assert pipeline.all_outputs() >= {"shop.prm_users", "shop.prm_rejected_feed_events", "shop.rpt_ingestion"}


def test_generated_sources_start_with_the_demo_generator():
    pipeline = create_pipeline("demo", params_for("demo", {"users": LAYOUT["users"]}, generate=True))
    assert "demo.ingestion.generate_demo_platform" in {n.name for n in pipeline.nodes}
    assert "params:demo_platform" in pipeline.inputs()
    database = {"sources": {"db": {"layout": "demo_platform"}}}
    assert create_publish_pipeline("db", database).outputs() >= {"db.raw_user_data", "db.raw_feed_data"}
    assert not create_publish_pipeline("db", {"sources": {"db": {"layout": "demo_platform", "generate": True}}}).nodes


def test_unknown_table_in_a_layout_is_refused():
    with pytest.raises(ValueError, match="not canonical.*'likes'"):
        create_pipeline("s", params_for("s", {"likes": {"raw": "x"}}))


def test_a_misspelt_layout_option_is_refused_when_the_pipeline_is_built():
    misspelt = {**LAYOUT, "posts": {"raw": "posts", "columns": {"post_id": "pid"}, "lables": {"column": "topic"}}}
    with pytest.raises(ValueError, match="layout 's_layout' table 'posts' has no option 'lables'"):
        create_pipeline("s", params_for("s", misspelt))


def test_ingest_table_counts_what_it_rejects():
    raw = pd.DataFrame({"t": ["2024-01-01"] * 3, "uid": [1, 1, 9], "pid": [1, 1, 1], "a": ["view"] * 3})
    accepted, rejected, counts = ingest_table(
        "feed_events", LAYOUT["feed_events"], {"max_rejected_share": 1.0}, raw_feed=raw,
        ref_users=pd.DataFrame({"user_id": [1]}), ref_posts=pd.DataFrame({"post_id": [1]}))
    assert counts == {"table": "feed_events", "raw_rows": 3, "candidate_rows": 3, "accepted": 1, "rejected": 2,
                      "duplicates": 1, "dangling_ids": 1, "sampled_out": 0}
    assert len(accepted) == 1 and len(rejected) == 2


def test_a_sample_thins_the_accepted_rows_after_the_checks_and_is_counted_apart_from_the_rejected(caplog):
    spec = {"raw": "texts", "columns": {"text_id": "id", "text": "t", "sentiment": "s"}, "sample": {"rows": 50}}
    raw = pd.DataFrame({"id": range(101), "t": [f"text {i}" for i in range(101)], "s": ["positive"] * 100 + ["odd"]})
    with caplog.at_level(logging.INFO, logger="socialml.pipelines.ingestion.nodes"):
        accepted, rejected, counts = ingest_table("sentiment_texts", spec, {"max_rejected_share": 0.05},
                                                  source="tweets", raw_texts=raw)
    assert len(accepted) == 50 and len(rejected) == 1 and "odd" in rejected["reason"].iloc[0]
    assert (counts["accepted"], counts["rejected"], counts["sampled_out"]) == (100, 1, 50)
    assert "tweets.sentiment_texts: 50 of the 100 accepted rows kept by the layout's sample {'rows': 50}" in caplog.messages
    assert build_ingestion_report(counts)["balanced"].all()  # rejected + accepted still add up to the candidates


def test_a_sample_of_a_table_others_refer_to_or_of_the_feed_log_is_refused():
    sampled_users = {**LAYOUT, "users": {**LAYOUT["users"], "sample": {"rows": 10}}}
    with pytest.raises(ValueError, match=r"table 'users' sample: \['feed_events'\] refer to users"):
        create_pipeline("s", params_for("s", sampled_users))
    sampled_feed = {**LAYOUT, "feed_events": {**LAYOUT["feed_events"], "sample": {"rows": 10}}}
    with pytest.raises(ValueError, match="feed_events is ingested on its engine, which does not sample"):
        create_pipeline("s", params_for("s", sampled_feed))


def test_report_refuses_counts_that_do_not_add_up():
    good = {"table": "users", "raw_rows": 2, "candidate_rows": 2, "accepted": 1, "rejected": 1, "duplicates": 0,
            "dangling_ids": 0, "sampled_out": 0}
    assert build_ingestion_report(good)["balanced"].all()
    with pytest.raises(AssertionError, match="rows were lost"):
        build_ingestion_report({**good, "accepted": 0})


def test_an_environment_that_replaces_the_ingestion_block_without_checks_is_told_what_to_copy():
    params = params_for("s", LAYOUT)
    del params["ingestion"]["checks"]
    with pytest.raises(SettingsError, match="lack ingestion.checks.*copy them from conf/base/parameters_ingestion.yml"):
        create_pipeline("s", params)
