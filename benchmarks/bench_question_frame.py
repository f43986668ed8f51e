"""What a survey question asks for (the good, the bad or neither), read from its text: ways of reading it.

    .venv/bin/python benchmarks/bench_question_frame.py [--data ../shared/data]

Development questions: the real survey's 60 largest questions, hand-labelled in
benchmarks/data/survey_question_frames.csv (ids only; 6 that a reader could take either way are left out),
the demo platform's 6 and ru_intents_dev's one. Held out: the 11 questions of the tests' question check set
(tests/pipelines/clustering/question_sentiment_check_set.csv, each labelled by what its content answers
are). Each reader embeds the questions with the configured encoder and reads them by the configured
anchor questions (`question_frame.anchors`): cosine to each class's mean anchor (as configured) or to its
nearest anchor, softmax at the configured temperature; and the configured anchors less each of ``DROPPED``. Scores: macro-F1 over the three readings, and how many questions
that ask for neither are read as asking for the good or the bad (the costly error: every neutral answer to
them moves). Writes benchmarks/results/question_frame.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import f1_score

from bench_clustering import ROOT, markdown
from socialml.components.data.canonical import SENTIMENTS
from socialml.components.data.demo_lexicon import SURVEY_QUESTIONS
from socialml.components.text.encoders import EmbeddingCache, build_encoder
from socialml.components.text.preprocess import normalise
from socialml.components.text.sentiment import ZeroShotSentiment

CHECK_SET = ROOT / "tests" / "pipelines" / "clustering" / "question_sentiment_check_set.csv"
# The demo generator's questions, by what their answers' planted sentiment says they ask for.
DEMO = {"Как вы оцениваете работу нашего сервиса?": "neutral", "Что вам больше всего нравится в работе?": "positive",
        "Что мешает вам работать эффективнее?": "negative", "Опишите одним словом ваше текущее состояние": "neutral",
        "Какие цели вы ставите на этот год?": "neutral", "Что стоит улучшить в офисе?": "negative",
        "Что вы хотели сделать?": "neutral"}  # the last: ru_intents_dev's one question (conf/base layout)
# Configured anchors whose worth is measured by leaving each out.
DROPPED = ("что вы хотите сделать",)


class NearestAnchor:
    """The alternative to ``ZeroShotSentiment``'s class means: cosine to each class's nearest anchor."""

    def __init__(self, anchors: dict[str, np.ndarray], temperature: float) -> None:
        self.anchors = {s: m / np.linalg.norm(m, axis=1, keepdims=True) for s, m in anchors.items()}
        self.temperature = temperature

    def predict_proba(self, texts: list[str], embeddings: np.ndarray) -> pd.DataFrame:
        logits = np.column_stack([(embeddings @ self.anchors[s].T).max(axis=1) for s in SENTIMENTS]) / self.temperature
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        return pd.DataFrame(probabilities / probabilities.sum(axis=1, keepdims=True), columns=list(SENTIMENTS))


def development_questions(data: Path) -> pd.DataFrame:
    survey = pd.read_csv(data / "survey_answers_ru" / "survey_answers.csv").drop_duplicates("question_id")
    labels = pd.read_csv(ROOT / "benchmarks" / "data" / "survey_question_frames.csv")
    real = labels.merge(survey[["question_id", "question"]], on="question_id", validate="one_to_one")
    assert set(DEMO) - {"Что вы хотели сделать?"} <= set(SURVEY_QUESTIONS), "the demo's questions changed"
    demo = pd.DataFrame({"question": list(DEMO), "asks_for": list(DEMO.values())})
    return pd.concat([real[["question", "asks_for"]], demo], ignore_index=True)


def held_out_questions() -> pd.DataFrame:
    """The check set's questions, each by what its content answers (not its nothing-answers) are."""
    check = pd.read_csv(CHECK_SET)
    nothing = check["answer"].str.contains("ничего|никаких")
    return (check[~nothing].groupby("question")["sentiment"].agg(lambda s: s.mode()[0])
            .rename("asks_for").reset_index())


def scores(truth: pd.Series, read: pd.DataFrame) -> dict[str, float]:
    """Macro-F1 of the readings, the questions of each costly mistake, and the mean probability the reading
    gives the good or the bad where a question asks for neither (the share of a neutral answer's neutral
    probability that `weight` 1 would move wrongly)."""
    labels, neutral = read.idxmax(axis=1).to_numpy(), truth.to_numpy() == "neutral"
    return {"macro_f1": f1_score(truth, labels, average="macro", labels=list(SENTIMENTS)),
            "neither read as good or bad": int((labels[neutral] != "neutral").sum()),
            "good or bad read as neither": int((labels[~neutral] == "neutral").sum()),
            "mean good or bad given to neither": float(1 - read.loc[neutral, "neutral"].mean())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    encoders = yaml.safe_load((ROOT / "conf/base/parameters_text_embedding.yml").read_text())["text_embedding"]
    params = yaml.safe_load((ROOT / "conf/base/parameters_clustering.yml").read_text())
    temperature = params["clustering"]["zero_shot_temperature"]
    cache = EmbeddingCache(build_encoder(encoders["encoder"]))
    configured = params["question_frame"]["anchors"]
    sets = {"development": development_questions(args.data), "held out": held_out_questions()}
    rows, misread = [], []
    for anchors_name, anchors in (("configured", configured), *(
            (f"without «{phrase}»", {k: [p for p in v if p != phrase] for k, v in configured.items()})
            for phrase in DROPPED)):
        vectors = {label: cache.encode(phrases) for label, phrases in anchors.items()}
        for pooling in ("mean", "nearest"):
            reader = ZeroShotSentiment(vectors, temperature) if pooling == "mean" else NearestAnchor(vectors, temperature)
            row = {"anchors": anchors_name, "pooling": pooling}
            for name, questions in sets.items():
                texts = questions["question"].map(normalise).tolist()
                read = reader.predict_proba(texts, cache.encode(texts))
                row.update({f"{name}: {k}": v for k, v in scores(questions["asks_for"], read).items()})
                wrong = read.idxmax(axis=1).to_numpy() != questions["asks_for"].to_numpy()
                misread += [{"anchors": anchors_name, "pooling": pooling, "set": name, "question": q, "asks_for": truth,
                             **read.iloc[i].round(2).to_dict()}
                            for i, (q, truth) in enumerate(zip(questions["question"], questions["asks_for"])) if wrong[i]]
            rows.append(row)
    table = pd.DataFrame(rows)
    counts = {name: questions["asks_for"].value_counts().to_dict() for name, questions in sets.items()}
    mistakes = pd.DataFrame(misread)
    mistakes = mistakes[mistakes["anchors"] == "configured"].drop(columns="anchors")
    out = ROOT / "benchmarks" / "results" / "question_frame.md"
    out.write_text(
        "# What a question asks for, read from its text\n\n"
        "Reproduce: `.venv/bin/python benchmarks/bench_question_frame.py`. The configured encoder, anchor "
        f"questions and temperature ({temperature}); questions per set and reading: {counts}. Macro-F1 over "
        "positive (asks for the good), neutral (neither) and negative (the bad).\n\n" + markdown(table) +
        "\n\nThe configured anchors' mistakes:\n\n" + mistakes.to_markdown(index=False) + "\n")
    print(markdown(table))
    print(mistakes.to_markdown(index=False))


if __name__ == "__main__":
    main()
