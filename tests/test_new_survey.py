"""A survey exported as a form tool exports it (one row per respondent, one column per question), clustered
by configuration only (slow).

The test writes what a user would: the export in their own folder and a Kedro environment (``conf/forms``)
with its catalog entry and a layout that unpivots the question columns. No code changes: ingestion, the
embeddings and the answer clustering run on it, and no cluster mixes the answers' planted meanings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import homogeneity_score, normalized_mutual_info_score

from tests.conftest import copy_project, run_kedro
from tests.test_end_to_end import latest_version

pytestmark = pytest.mark.slow
# Two open questions, each with three meanings; a respondent words a meaning as one of its cores with or
# without one of its qualifiers (about 15 ways each, as free answers vary).
QUESTIONS = {
    "Что вам нравится в работе?": {
        "team": (["коллектив", "коллеги", "команда", "атмосфера в коллективе"],
                 ["дружный", "отличный", "хороший", "сплочённый"]),
        "pay": (["зарплата", "оплата труда", "премии", "доход"], ["достойная", "стабильная", "высокая", "хорошая"]),
        "schedule": (["график", "удалёнка", "работа из дома", "режим работы"],
                     ["гибкий", "свободный", "удобный", "плавающий"]),
    },
    "Что мешает вам работать?": {
        "paperwork": (["бюрократия", "отчёты", "бумажная волокита", "согласования"],
                      ["бесконечные", "лишние", "долгие", "постоянные"]),
        "noise": (["шум в офисе", "open space", "громкие разговоры", "шум"],
                  ["постоянный", "шумный", "сильный", "ужасный"]),
        "nothing": (["ничего не мешает", "всё устраивает", "ничего", "никаких проблем"],
                    ["честно,", "пожалуй,", "в целом", "вообще"]),
    },
}


def write_export(path: Path, respondents: int = 90, seed: int = 0) -> dict[str, list[str]]:
    """The form's CSV, with a timestamp and a score column, some questions left blank; returns each
    question's planted meanings of its answered cells, in file order."""
    rng = np.random.default_rng(seed)
    export = pd.DataFrame({"Отметка времени": pd.date_range("2026-11-02 09:00", periods=respondents, freq="7min")
                           .strftime("%Y/%m/%d %H:%M:%S")})
    meanings = {}
    for question, groups in QUESTIONS.items():
        chosen = rng.choice(list(groups), respondents)
        answers = []
        for group in chosen:
            cores, qualifiers = groups[group]
            core = str(rng.choice(cores))
            answers.append(core if rng.random() < 0.3 else f"{rng.choice(qualifiers)} {core}")
        blank = rng.random(respondents) < 0.15
        export[question] = np.where(blank, "", answers)
        meanings[question] = list(chosen[~blank])
    export["Оцените работу от 1 до 5"] = rng.integers(1, 6, respondents)
    export.to_csv(path, index=False)
    return meanings


def write_environment(project: Path, export: Path) -> None:
    conf = project / "conf" / "forms"
    conf.mkdir()
    catalog = {"forms.raw_forms": {"type": "pandas.CSVDataset", "filepath": str(export)}}
    layout = {"answers": {"raw": "forms", "keep": ["Отметка времени", "Оцените работу от 1 до 5"],
                          "answers_from_columns": {"columns": "*"}, "generate_id": "answer_id"}}
    parameters = {"sources": {"forms": {"layout": "forms"}},
                  "ingestion": {"checks": {"max_rejected_share": 0.05, "min_accepted_rows": 1},
                                "layouts": {"forms": layout}}}
    (conf / "catalog_forms.yml").write_text(yaml.safe_dump(catalog, allow_unicode=True))
    (conf / "parameters_ingestion.yml").write_text(yaml.safe_dump(parameters, allow_unicode=True))


def test_a_survey_exported_one_column_per_question_is_clustered_by_configuration_only(tmp_path):
    project = copy_project(tmp_path / "project")
    meanings = write_export(tmp_path / "form_export.csv")
    write_environment(project, tmp_path / "form_export.csv")
    result = run_kedro(project, "run", "--env", "forms", "--pipelines", "ingestion,text_embedding,clustering")

    answered = sum(map(len, meanings.values()))
    assert f"answers: {answered} answers from 2 question columns; {180 - answered} cells left blank" in result.stdout
    answers = pd.read_parquet(project / "data" / "03_primary" / "forms" / "answers.parquet")
    assert answers.groupby("question_id")["question_text"].first().to_dict() == dict(enumerate(QUESTIONS, start=1))
    clustered = pd.read_parquet(latest_version(project / "data" / "07_model_output" / "forms" / "answer_clusters.parquet"))
    for question_id, question in enumerate(QUESTIONS, start=1):
        own = clustered[clustered["question_id"] == question_id].sort_values("answer_id")
        assert len(own) == len(meanings[question])
        # Each cluster holds one meaning (a meaning may span clusters: its cores are words apart).
        assert homogeneity_score(meanings[question], own["cluster"]) > 0.9, question
        assert normalized_mutual_info_score(meanings[question], own["cluster"]) > 0.6, question
