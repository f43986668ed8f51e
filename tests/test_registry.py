"""The Model Registry's gate on a real MLflow store: a worse model never takes the alias."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest

from socialml.registry import Gate, held_out_set, register_and_gate, registry_gates, served_families, served_models

HELD_OUT = '{"source": "demo", "topics.seed": 0}'


class Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


@pytest.fixture()
def tracking(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("gate")
    return mlflow.MlflowClient()


def logged_model() -> str:
    with mlflow.start_run():
        return mlflow.pyfunc.log_model(name="model", python_model=Constant(),
                                       input_example=pd.DataFrame({"x": [1]})).model_id


def gate(score: float | None, held_out: str = HELD_OUT, min_gain: float = 0.0, unscored: str = "keep"):
    return register_and_gate(logged_model(), "socialml-topics", "champion", "micro_f1", score, min_gain, held_out,
                             {"socialml.source": "demo"}, unscored)


def test_only_a_better_version_takes_the_champion_alias(tracking):
    first = gate(0.70)
    assert first.promoted and first.reason == "no version held 'champion'"
    worse = gate(0.65)
    assert not worse.promoted and worse.previous_version == "1" and worse.previous_score == 0.70
    assert tracking.get_model_version_by_alias("socialml-topics", "champion").version == 1
    tie = gate(0.70)
    assert not tie.promoted  # as good is not better
    better = gate(0.72)
    assert better.promoted and tracking.get_model_version_by_alias("socialml-topics", "champion").version == 4
    recorded = json.loads(tracking.get_model_version("socialml-topics", "2").tags["socialml.gate.champion"])
    assert recorded["score"] == 0.65 and recorded["previous_score"] == 0.70 and recorded["promoted"] is False
    assert tracking.get_registered_model("socialml-topics").tags == {"socialml.source": "demo"}


def test_a_gain_below_the_minimum_or_another_held_out_set_keeps_the_champion(tracking):
    gate(0.70)
    assert not gate(0.705, min_gain=0.01).promoted
    other = gate(0.99, held_out='{"source": "demo", "topics.seed": 1}')
    assert not other.promoted and "not comparable" in other.reason
    assert tracking.get_model_version_by_alias("socialml-topics", "champion").version == 1


def test_a_survey_without_held_out_truth_serves_its_newest_clusterer_only_where_told(tracking):
    first = gate(None)
    assert first.promoted and first.reason == "no version held 'champion'"
    kept = gate(None)
    assert not kept.promoted and "move it by hand" in kept.reason
    newer = gate(None, unscored="newer")
    assert newer.promoted and "the newer serves" in newer.reason
    other_source = gate(None, held_out='{"source": "survey"}', unscored="newer")
    assert not other_source.promoted and "not comparable" in other_source.reason
    assert tracking.get_model_version_by_alias("socialml-topics", "champion").version == 3


def test_an_unscored_version_never_replaces_a_scored_one(tracking):
    gate(0.70)
    unscored = gate(None, unscored="newer")
    assert not unscored.promoted and "has no micro_f1 score" in unscored.reason
    assert tracking.get_model_version_by_alias("socialml-topics", "champion").version == 1


@pytest.mark.parametrize(("options", "message"), [
    ({"unscored": "latest"}, "option 'unscored' must be one of 'keep', 'newer', got 'latest'"),
    ({"unscord": "newer"}, "has no option 'unscord'"),
    ({"min_gain": "a little"}, "option 'min_gain' must be"),
])
def test_a_misspelt_or_mistyped_gate_option_stops_naming_the_family(options, message):
    params = {"model_registry": {"clusters": {"name": "socialml-clusters", "metric": "nmi",
                                              "held_out": "sources.{source}", **options}}}
    with pytest.raises(ValueError, match=f"model_registry.clusters.*{message}"):
        registry_gates(params)


def test_served_models_and_held_out_sets_come_from_the_parameters():
    params = {"serving": {"topics": {"source": "demo", "model": "embedding_logreg"},
                          "cross_sell": {"source": "bank", "model": "ncf"}},
              "post_feed": {"ab_test": {"source": "demo", "control": "ranker", "test": "ranker_text"},
                            "sources": {"demo": {"split": {"kind": "time_split", "test_share": 0.2}}}},
              "topics": {"split_shares": {"train": 0.6}, "seed": 0}}
    served = served_models(params)
    assert served["feed"] == {"control": "demo.post_feed.ranker.mdl_post_feed",
                              "test": "demo.post_feed.ranker_text.mdl_post_feed"}
    assert served["cross_sell"] == {"champion": "bank.cross_sell.ncf.mdl_cross_sell"}
    # An environment serves the families whose served sources it has: here the demo's only, or the bank's only.
    assert served_families({**params, "sources": {"demo": {}}}) == ["feed", "topics"]
    assert served_families({**params, "sources": {"bank": {}, "tweets": {}}}) == ["cross_sell"]
    assert json.loads(held_out_set(Gate("f", "m", "post_feed.sources.{source}.split"), "demo", params)) == {
        "source": "demo", "post_feed.sources.demo.split": {"kind": "time_split", "test_share": 0.2}}
    assert json.loads(held_out_set(Gate("t", "m", ["topics.split_shares", "topics.seed"]), "demo", params)) == {
        "source": "demo", "topics.split_shares": {"train": 0.6}, "topics.seed": 0}
    # a parameter the environment leaves unset (read with a default) is part of the identity as None
    assert json.loads(held_out_set(Gate("t", "m", ["topics.seed", "topics.split_strata"]), "demo", params)) == {
        "source": "demo", "topics.seed": 0, "topics.split_strata": None}
