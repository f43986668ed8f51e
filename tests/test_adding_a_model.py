"""docs/adding_a_model.md, done once as a newcomer would (slow): variants and an encoder added by configuration only.

The test edits a project copy's ``conf/test`` the way the guide says (nothing else) and trains:
a post-feed variant whose only candidate generator is EASE, a cross-sell variant that is EASE, and
a Hugging Face encoder given by local folder (CLS pooling) in place of the default e5.
"""

from __future__ import annotations

import pickle

import pandas as pd
import pytest
import yaml

from tests.conftest import TEST_DATA, copy_project, run_kedro
from tests.test_end_to_end import latest_version

pytestmark = pytest.mark.slow


def _edit(path, change) -> None:
    parameters = yaml.safe_load(path.read_text())
    change(parameters)
    path.write_text(yaml.safe_dump(parameters, allow_unicode=True))


def test_variants_and_an_encoder_added_by_configuration_train_and_are_compared(tmp_path, e5_folder):
    project = copy_project(tmp_path)
    conf = project / "conf" / "test"
    _edit(conf / "parameters_post_feed.yml", lambda p: p["post_feed"]["sources"]["demo"]["models"].update(
        ease_only={"generators": {"ease": {"kind": "ease", "l2": 50.0}}}))
    _edit(conf / "parameters_cross_sell.yml", lambda p: p["cross_sell"]["sources"]["demo"]["models"].update(
        ease={"kind": "ease", "l2": 10.0}))
    (conf / "parameters_text_embedding.yml").write_text(yaml.safe_dump({"text_embedding": {
        **yaml.safe_load((project / "conf" / "base" / "parameters_text_embedding.yml").read_text())["text_embedding"],
        "encoder": {"kind": "transformers", "model": str(e5_folder), "pooling": "cls", "prefix": "query: "}}}))

    # the pipelines the added variants and encoder feed (topics and audience are not asserted on here)
    run_kedro(project, "run", "--env", "test", "--pipelines",
              "ingestion,feature_enrichment,text_embedding,sentiment,clustering,post_feed,cross_sell")

    reports = project / TEST_DATA / "08_reporting" / "demo"
    feed = pd.read_csv(latest_version(reports / "post_feed_comparison.csv")).set_index("model")
    assert {"popularity", "ranker", "ease_only"} <= set(feed.index) and 0 <= feed.loc["ease_only", "hit_rate_at_5"] <= 1
    cross_sell = pd.read_csv(latest_version(reports / "cross_sell_comparison.csv")).set_index("model")
    assert "ease" in cross_sell.index and 0.5 < cross_sell.loc["ease", "auc_per_client"] <= 1
    clusterer = pickle.loads(latest_version(project / TEST_DATA / "06_models" / "demo" / "clustering" /
                                            "answer_clusterer.pkl").read_bytes())
    recorded = clusterer.embeddings_from
    assert recorded["identity"].startswith("transformers:") and recorded["config"]["pooling"] == "cls"
