"""Which answers' clusters are scored, and against what."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from socialml.pipelines.clustering import create_pipeline
from socialml.pipelines.clustering.nodes import answer_gold_groups, score_answer_clusters
from tests.conftest import PROJECT_ROOT

CLUSTERING = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "parameters_clustering.yml").read_text())["clustering"]
ANSWERS = {"raw": "intents", "columns": {"answer_text": "text"}, "generate_id": "answer_id",
           "constants": {"question_id": 1, "question_text": "Что вы хотели сделать?"}}


def params_with(answers_layout: dict) -> dict:
    return {"sources": {"intents": {"layout": "intents"}}, "ingestion": {"layouts": {"intents": {"answers": answers_layout}}},
            "clustering": CLUSTERING}


def test_answers_with_a_gold_group_column_get_their_clusters_scored():
    gold = create_pipeline("intents", params_with({**ANSWERS, "columns": {"answer_text": "text", "true_group": "intent"}}))
    score = next(n for n in gold.nodes if n.name == "intents.clustering.score_answer_clusters")
    assert score.inputs == ["intents.mo_answer_clusters", "intents.mi_answer_gold_groups"]
    assert "intents.mi_answer_gold_groups" in gold.all_outputs()
    plain = create_pipeline("intents", params_with(ANSWERS))
    assert not {n.name for n in plain.nodes} & {"intents.clustering.score_answer_clusters",
                                                  "intents.clustering.answer_gold_groups"}


def test_clusters_are_scored_per_question_against_the_gold_groups_answers_without_one_left_out():
    answers = pd.DataFrame({"answer_id": ["a", "b", "c", "d", "e"], "true_group": ["alarm", "alarm", "weather", None, "weather"]})
    clusters = pd.DataFrame({"answer_id": ["a", "b", "c", "d", "e"], "question_id": 1, "cluster": [0, 0, 1, 1, 1],
                             "sentiment": "neutral"})
    report, payload = score_answer_clusters(clusters, answer_gold_groups(answers))
    assert report.to_dict("records")[0]["answers"] == 4
    assert report["nmi"].iloc[0] == pytest.approx(1.0) and report["ari"].iloc[0] == pytest.approx(1.0)
    assert not any("sentiment" in str(name) for name in payload)  # no gold sentiment, no sentiment score
    with pytest.raises(ValueError, match="no clustered answer has a gold group"):
        score_answer_clusters(clusters, answer_gold_groups(answers.assign(true_group=None)))
