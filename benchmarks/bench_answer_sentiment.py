"""The real survey's answers read for sentiment at each zero-shot weight of the answers' blend, and the weights
each choice of texts (`clustering.zero_shot_weight_chosen_on`) picks (the zero-shot's and the emoji's,
`emoji.weight: auto`; the rows vary the first at the emoji weight the configured choice picks).

    .venv/bin/python benchmarks/bench_answer_sentiment.py [--data ../shared/data] [--runs 1000]

Reads the models of the real configuration's last run (at least `kedro run --env real --pipelines
text_embedding,sentiment,clustering --namespaces rusentiment,survey_answers_ru`): RuSentiment's served
sentiment model (the blend's head), the survey's zero-shot anchors and question frame, the generated answers
the blend was last chosen on, and RuSentiment's texts for its held-out split. Scored: 150 answers of the real
survey drawn at random (seed 20261205) and hand-labelled with their question in view before any model's
reading was seen (benchmarks/data/survey_answer_sentiments.csv, ids only: the survey's licence keeps its
text out of the repository), read as served (each framed by its question); and the tests' five check sets
of answers (no question; read alone). Writes benchmarks/results/answer_sentiment.md.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import accuracy_score, f1_score

from bench_clustering import ROOT, markdown
from socialml.components.evaluation.metrics import classification_intervals
from socialml.components.text.encoders import trained_encoder
from socialml.components.text.preprocess import normalise
from socialml.components.text.sentiment import predict_labels
from socialml.pipelines.clustering.nodes import BLEND_WEIGHTS, answer_sentiment_model, held_out_sentiment_texts

DATA = ROOT / "data"
CHECK_SETS = ("sentiment_check_set", "sentiment_second_check_set", "sentiment_third_check_set",
              "sentiment_fourth_check_set", "sentiment_emoji_check_set")


def latest(path: Path) -> Path:
    """The newest version of a versioned dataset's file, or a stop that says which run writes it."""
    if not path.is_dir() or not any(path.iterdir()):
        raise SystemExit(f"{path} has no version: run `kedro run --env real --pipelines text_embedding,sentiment,"
                         "clustering --namespaces rusentiment,survey_answers_ru` first")
    return max(path.iterdir()) / path.name


def unpickled(path: Path):
    return pickle.loads(latest(path).read_bytes())


def labelled_sample(data: Path) -> pd.DataFrame:
    survey = pd.read_csv(data / "survey_answers_ru" / "survey_answers.csv")
    labels = pd.read_csv(ROOT / "benchmarks" / "data" / "survey_answer_sentiments.csv")
    sample = labels.merge(survey, on=["question_id", "answer_idx"], validate="one_to_one")
    return sample.assign(text=sample["answer"].map(normalise), question=sample["question"].map(normalise))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--runs", type=int, default=1000, help="bootstrap resamples")
    args = parser.parse_args()
    params = yaml.safe_load((ROOT / "conf" / "real" / "parameters_clustering.yml").read_text())["clustering"]
    sentiment_params = yaml.safe_load((ROOT / "conf" / "real" / "parameters_sentiment.yml").read_text())["sentiment"]
    head = unpickled(DATA / "06_models" / "rusentiment" / "sentiment_model.pkl")
    zero_shot = unpickled(DATA / "06_models" / "survey_answers_ru" / "zero_shot_sentiment.pkl")
    frame = unpickled(DATA / "06_models" / "survey_answers_ru" / "question_frame.pkl")
    choices = {
        "generated_answers": pd.read_parquet(DATA / "05_model_input" / "survey_answers_ru" / "sentiment_blend_texts.parquet"),
        "held_out_texts": held_out_sentiment_texts(
            pd.read_parquet(DATA / "03_primary" / "rusentiment" / "sentiment_texts.parquet"),
            pd.read_parquet(DATA / "05_model_input" / "rusentiment" / "sentiment_embeddings.parquet"), sentiment_params),
    }
    chosen = {}
    for name, texts in choices.items():
        _, table = answer_sentiment_model(zero_shot, {**params, "zero_shot_weight": "auto"}, head, texts)
        pick = table[table["chosen"]].iloc[0]
        chosen[name] = (float(pick["zero_shot_weight"]), float(pick["emoji_weight"]),
                        table[table["emoji_weight"] == pick["emoji_weight"]].set_index("zero_shot_weight")["macro_f1"])
    rows_emoji_weight = chosen[params["zero_shot_weight_chosen_on"]][1]

    def served(zero_shot_weight: float, emoji_weight: float):
        weights = {"zero_shot_weight": zero_shot_weight, "emoji": {**params["emoji"], "weight": emoji_weight}}
        return answer_sentiment_model(zero_shot, {**params, **weights}, head)[0]

    sample = labelled_sample(args.data)
    answers, questions = sample["text"].tolist(), sample["question"].tolist()
    answer_vectors = trained_encoder(head.embeddings_from, answers)[1]
    asks = frame.predict_proba(questions, trained_encoder(frame.embeddings_from, questions)[1])
    check_sets = {name: pd.read_csv(ROOT / "tests" / "pipelines" / "clustering" / f"{name}.csv") for name in CHECK_SETS}
    check_texts = [normalise(t) for name in CHECK_SETS for t in check_sets[name]["text"]]
    check_vectors = trained_encoder(head.embeddings_from, check_texts)[1]
    check_truth = np.concatenate([check_sets[name]["sentiment"].to_numpy() for name in CHECK_SETS])
    set_of = np.concatenate([[name] * len(check_sets[name]) for name in CHECK_SETS])

    survey_readings, check_readings = {}, {}
    pairs = {(weight, rows_emoji_weight) for weight in BLEND_WEIGHTS} | {(w, e) for w, e, _ in chosen.values()}
    for pair in sorted(pairs):
        model = served(*pair)
        own = model.predict_proba(answers, answer_vectors)
        survey_readings[pair] = predict_labels(frame.apply(answers, own, range(len(answers)), asks))
        check_readings[pair] = predict_labels(model.predict_proba(check_texts, check_vectors))
    rows = []
    for weight in BLEND_WEIGHTS:
        pair = (weight, rows_emoji_weight)
        row = {"zero_shot_weight": weight,
               "chosen by": ", ".join(name for name, (w, e, _) in chosen.items() if (w, e) == pair),
               "survey sample macro_f1": f1_score(sample["sentiment"], survey_readings[pair], average="macro"),
               "survey sample accuracy": accuracy_score(sample["sentiment"], survey_readings[pair])}
        for name in CHECK_SETS:
            row[f"{name} macro_f1"] = f1_score(check_truth[set_of == name], check_readings[pair][set_of == name],
                                               average="macro")
        for name, (_, _, scores) in chosen.items():
            row[f"{name} macro_f1 (the choice's own)"] = scores[weight]
        rows.append(row)
    by_weight = pd.DataFrame(rows)

    picks = {f"{name} (w = {weight}, emoji {emoji})": (weight, emoji) for name, (weight, emoji, _) in chosen.items()}
    baseline = next(name for name in picks if name.startswith("held_out_texts"))
    comparisons = []
    for scored, truth, readings in (("survey sample, framed (150)", sample["sentiment"].to_numpy(), survey_readings),
                                    (f"the check sets, alone ({len(check_truth)})", check_truth, check_readings)):
        intervals = classification_intervals(truth, {name: readings[pair] for name, pair in picks.items()}, baseline,
                                             runs=args.runs)
        comparisons += [{"scored on": scored, "weights chosen on": name,
                         "macro_f1": f1_score(truth, readings[pair], average="macro"), **intervals[name]}
                        for name, pair in picks.items()]
    counts = sample["sentiment"].value_counts().to_dict()
    out = ROOT / "benchmarks" / "results" / "answer_sentiment.md"
    out.write_text(
        "# Answer sentiment on the real survey: the blend's zero-shot and emoji weights\n\n"
        "Reproduce: `.venv/bin/python benchmarks/bench_answer_sentiment.py` after the real run (see its docstring). "
        f"The survey sample: 150 answers at random, hand-labelled ({counts}), read as served (framed by their "
        "question); the check sets: the tests' answers read alone. `(the choice's own)`: each choice's score of "
        "the weight on its own texts, read alone (the generated answers, or RuSentiment's held-out posts). The rows' "
        f"emoji weight: {rows_emoji_weight} (the configured choice's).\n\n"
        f"{markdown(by_weight)}\n\n"
        f"## The two choices side by side ({args.runs} paired resamples; gain over the choice on held-out texts)\n\n"
        f"{markdown(pd.DataFrame(comparisons))}\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
