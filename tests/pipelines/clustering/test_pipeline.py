"""Which answers' clusters are scored, and against what."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from socialml.components.evaluation.tables import leaders
from socialml.components.text.vectors import to_frame
from socialml.pipelines.clustering import create_pipeline
from socialml.pipelines.clustering.nodes import answer_gold_groups, baseline_answer_clusters, score_answer_clusters
from tests.conftest import PROJECT_ROOT

PARAMETERS = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "parameters_clustering.yml").read_text())
CLUSTERING, QUESTION_FRAME = PARAMETERS["clustering"], PARAMETERS["question_frame"]
ANSWERS = {"raw": "intents", "columns": {"answer_text": "text"}, "generate_id": "answer_id",
           "constants": {"question_id": 1, "question_text": "Что вы хотели сделать?"}}


def params_with(answers_layout: dict) -> dict:
    return {"sources": {"intents": {"layout": "intents"}}, "ingestion": {"layouts": {"intents": {"answers": answers_layout}}},
            "clustering": CLUSTERING, "question_frame": QUESTION_FRAME}


def test_answers_with_a_gold_group_column_get_their_clusters_scored():
    gold = create_pipeline("intents", params_with({**ANSWERS, "columns": {"answer_text": "text", "true_group": "intent"}}))
    score = next(n for n in gold.nodes if n.name == "intents.clustering.score_answer_clusters")
    assert score.inputs == ["intents.mo_answer_clusters", "intents.mo_baseline_answer_clusters",
                            "intents.mi_answer_gold_groups", "params:clustering"]
    assert {"intents.mi_answer_gold_groups", "intents.mo_baseline_answer_clusters"} <= gold.all_outputs()
    assert "intents.rpt_clustering_comparison" in score.outputs
    plain = create_pipeline("intents", params_with(ANSWERS))
    assert not {n.name for n in plain.nodes} & {"intents.clustering.score_answer_clusters",
                                                  "intents.clustering.answer_gold_groups",
                                                  "intents.clustering.baseline_answer_clusters"}


@pytest.mark.parametrize("weight", ["auto", 1.5, None])
def test_a_mistyped_question_frame_weight_stops_the_pipeline_before_it_runs(weight):
    params = {**params_with(ANSWERS), "question_frame": {**QUESTION_FRAME, "weight": weight}}
    with pytest.raises(ValueError, match=f"question_frame.weight must be a number between 0 and 1, got {weight!r}"):
        create_pipeline("intents", params)


FEWEST_ANCHORS = min(len(phrases) for phrases in CLUSTERING["sentiment_anchors"].values())


@pytest.mark.parametrize("nearest", [0, FEWEST_ANCHORS + 1, 1.5, True, "2"])
def test_a_mistyped_number_of_nearest_anchors_stops_the_pipeline_before_it_runs(nearest):
    params = {**params_with(ANSWERS), "clustering": {**CLUSTERING, "zero_shot_nearest_anchors": nearest}}
    with pytest.raises(ValueError, match=f"zero_shot_nearest_anchors must be null or a whole number from 1 to {FEWEST_ANCHORS} "
                                         rf"\(the fewest anchors of a sentiment\), got {nearest!r}"):
        create_pipeline("intents", params)


@pytest.mark.parametrize("neutral", [None, []])
def test_a_sentiment_without_anchor_phrases_stops_the_pipeline_naming_it(neutral):
    anchors = {**CLUSTERING["sentiment_anchors"], "neutral": neutral}
    params = {**params_with(ANSWERS), "clustering": {**CLUSTERING, "sentiment_anchors": anchors}}
    with pytest.raises(ValueError, match=r"clustering.sentiment_anchors has no phrases for \['neutral'\]"):
        create_pipeline("intents", params)


@pytest.mark.parametrize(("chosen_on", "node_name", "reads"), [
    ("generated_answers", "generated_labelled_answers", ["params:demo_platform", "params:text_embedding"]),
    ("held_out_texts", "held_out_sentiment_texts",
     ["rusentiment.prm_sentiment_texts", "rusentiment.mi_sentiment_embeddings", "params:sentiment"]),
])
def test_answers_of_no_known_sentiment_get_their_blend_chosen_on_the_texts_configured(chosen_on, node_name, reads):
    params = params_with(ANSWERS)
    params["sources"]["rusentiment"] = {"layout": "rusentiment"}
    params["clustering"] = {**CLUSTERING, "sentiment_source": "rusentiment", "zero_shot_weight_chosen_on": chosen_on}
    blend = [n for n in create_pipeline("intents", params).nodes if "intents.mi_sentiment_blend_texts" in n.outputs]
    assert [(n.name, n.inputs) for n in blend] == [(f"intents.clustering.{node_name}", reads)]
    numbers = {"zero_shot_weight": 0.5, "emoji": {**CLUSTERING["emoji"], "weight": 0.5}}
    fixed = create_pipeline("intents", {**params, "clustering": {**params["clustering"], **numbers}})
    assert "intents.mi_sentiment_blend_texts" not in fixed.all_outputs() | fixed.inputs()
    assert fixed.inputs() & {"rusentiment.mdl_sentiment_model", "params:demo_platform", "params:sentiment"} == {
        "rusentiment.mdl_sentiment_model"}


def test_an_emoji_weight_set_to_auto_is_chosen_on_texts_of_known_sentiment_even_without_a_sentiment_source():
    emoji = {**CLUSTERING["emoji"], "weight": "auto"}
    params = {**params_with(ANSWERS), "clustering": {**CLUSTERING, "emoji": emoji, "zero_shot_weight": 0.5}}
    choice = next(n for n in create_pipeline("intents", params).nodes if n.name.endswith(".answer_sentiment_model"))
    assert choice.inputs == ["intents.mdl_zero_shot_sentiment", "params:clustering", "intents.mi_sentiment_blend_texts"]
    fixed = {**params, "clustering": {**params["clustering"], "emoji": {**emoji, "weight": 0.5}}}
    assert "intents.mi_sentiment_blend_texts" not in create_pipeline("intents", fixed).all_outputs()
    held_out = {**params, "clustering": {**params["clustering"], "zero_shot_weight_chosen_on": "held_out_texts"}}
    with pytest.raises(ValueError, match="emoji.weight: auto is chosen on held-out sentiment texts .* source 'intents' "
                                         "has no sentiment source"):
        create_pipeline("intents", held_out)


@pytest.mark.parametrize("weight", [1.5, "sometimes", None, True])
def test_a_mistyped_emoji_weight_stops_the_pipeline_before_it_runs(weight):
    params = {**params_with(ANSWERS), "clustering": {**CLUSTERING, "emoji": {**CLUSTERING["emoji"], "weight": weight}}}
    with pytest.raises(ValueError, match=r'clustering.emoji.weight \(a number, or "auto"\) must be a number between 0 '
                                         f"and 1, got {weight!r}"):
        create_pipeline("intents", params)


def test_a_mistyped_choice_of_blend_texts_stops_the_pipeline_naming_it():
    params = {**params_with(ANSWERS), "clustering": {**CLUSTERING, "zero_shot_weight_chosen_on": "rusentiment"}}
    with pytest.raises(ValueError, match="clustering.zero_shot_weight_chosen_on must be one of "
                                         r"\['generated_answers', 'held_out_texts'\], got 'rusentiment'"):
        create_pipeline("intents", params)


def test_clusters_are_scored_per_question_against_the_gold_groups_answers_without_one_left_out():
    answers = pd.DataFrame({"answer_id": ["a", "b", "c", "d", "e"], "true_group": ["alarm", "alarm", "weather", None, "weather"]})
    clusters = pd.DataFrame({"answer_id": ["a", "b", "c", "d", "e"], "question_id": 1, "cluster": [0, 0, 1, 1, 1],
                             "sentiment": "neutral"})
    truth = answer_gold_groups(answers)
    baseline = pd.DataFrame({"answer_id": list("abcde"), "question_id": 1, "cluster": -1})  # the chain found no topic
    params = {"comparison": {"bootstrap_runs": 20}}
    report, comparison, payload = score_answer_clusters(clusters, baseline, truth, params)
    assert report.to_dict("records")[0]["answers"] == 4
    assert report["nmi"].iloc[0] == pytest.approx(1.0) and report["ari"].iloc[0] == pytest.approx(1.0)
    assert not any("sentiment" in str(name) for name in payload)  # no gold sentiment, no sentiment score
    # Against BERTopic's chain that found nothing: the comparison ranks the clustering first, in the run's summary too.
    assert comparison["model"].tolist() == ["answer_clustering", "bertopic_default_chain"]
    assert comparison["answers"].tolist() == [4, 4] and comparison["outlier_share"].tolist() == [0.0, 1.0]
    assert comparison["gain_vs_bertopic_default_chain"].iloc[0] == pytest.approx(1.0)
    assert payload["clustering/comparison/answer_clustering/nmi"]["value"] == pytest.approx(1.0)
    assert "over bertopic_default_chain" in leaders(comparison)[0][1]
    with pytest.raises(ValueError, match="no clustered answer has a gold group"):
        score_answer_clusters(clusters, baseline, answer_gold_groups(answers.assign(true_group=None)), params)


def test_bertopics_chain_clusters_every_answer_of_each_question_with_gold_groups_and_no_other_question():
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:3] * 3
    texts = [f"ответ {i}" for i in range(120)]
    vectors = np.vstack([c + rng.normal(0, 0.05, (40, 8)) for c in centres])
    answers = pd.DataFrame({"answer_id": [f"a-{i}" for i in range(120)] + ["z-1", "z-2"],
                            "question_id": ["q-1"] * 120 + ["q-2"] * 2, "answer_text": texts + ["да", "нет"]})
    # Gold groups for a third of q-1's answers only; q-2 has none.
    truth = pd.DataFrame({"answer_id": [f"a-{i}" for i in range(0, 120, 3)], "group": [str(i // 40) for i in range(0, 120, 3)]})
    embeddings = to_frame(texts + ["да", "нет"], np.vstack([vectors, rng.normal(size=(2, 8))]), "normalised_text")
    clusters = baseline_answer_clusters(answers, embeddings, truth, CLUSTERING)
    assert clusters["answer_id"].tolist() == answers["answer_id"].tolist()[:120]  # every answer of q-1, none of q-2
    scored = truth.merge(clusters, on="answer_id")
    assert scored.groupby("group")["cluster"].nunique().eq(1).all() and scored["cluster"].nunique() == 3  # all found
