"""Labelled texts of two shapes the project has never seen, trained and served by configuration only (slow).

The test writes what a user would: an emotions set as Hugging Face exports one (Parquet train and test
files, a list of class ids per text, an empty list for a text with no emotion) and tweets as RuTweetCorp
ships them (one headerless ``;``-separated file per polarity, the polarity as 1 / -1; a sample of them kept, as
of a corpus too large to embed whole), with a Kedro
environment (``conf/texts``) that lays them out, points the served topic model at the emotions, and
nothing else. No code changes: ingestion, the embeddings, the topic models and the sentiment models train
on them, the topic model is registered, and the service and the app serve it alone.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import PROJECT_ROOT, copy_project, run_kedro
from tests.test_end_to_end import latest_version

pytestmark = pytest.mark.slow
EMOTIONS = {0: "joy", 1: "sadness", 2: "surprise", 3: "fear", 4: "anger"}
SAYINGS = {0: ["я так рада", "счастье переполняет", "ура, наконец-то"], 1: ["грустно до слёз", "тоска и печаль"],
           2: ["вот это да", "не ожидал такого"], 3: ["мне страшно", "боюсь даже думать"],
           4: ["бесит невероятно", "я в ярости"]}
EVERYDAY = ["сегодня ходили в парк", "вечером смотрели кино", "на работе новый проект", "купил билеты на поезд",
            "сестра приехала в гости", "пишу диплом третий день", "погода меняется каждый час",
            "собака опять сгрызла тапок", "завтра сдаём отчёт", "в городе открыли новый мост"]
TWEET_COLUMNS = ["id", "tdate", "tname", "ttext", "ttype", "trep", "tfav", "tstcount", "tfol", "tfrien", "listcount"]


def write_emotions(folder: Path, rng: np.random.Generator) -> dict[str, int]:
    """train.parquet and test.parquet: text, labels (a list of class ids; a third of the texts have none), source."""
    sizes = {"train": 300, "test": 100}
    for split, size in sizes.items():
        rows = []
        for _ in range(size):
            labels = sorted(rng.choice(5, rng.choice([0, 1, 1, 2]), replace=False).tolist())
            text = ". ".join([str(rng.choice(EVERYDAY))] + [str(rng.choice(SAYINGS[label])) for label in labels])
            rows.append({"text": text, "labels": labels, "source": str(rng.choice(["lj", "dialogs"]))})
        pd.DataFrame(rows).to_parquet(folder / f"{split}.parquet")
    return sizes


def write_tweets(folder: Path, rng: np.random.Generator) -> None:
    """positive.csv and negative.csv as RuTweetCorp ships them; one damaged row with a polarity of 0."""
    words = {1: ["обожаю :)", "круто!", "отличный день"], -1: ["ненавижу :(", "ужасно", "всё плохо"]}
    for polarity, name in ((1, "positive"), (-1, "negative")):
        rows = [[10**17 + polarity * 1000 + i, 1386325927 + i, f"user{i}",
                 f"RT @user{i}: {rng.choice(EVERYDAY)} {rng.choice(words[polarity])} http://t.co/x{i}", polarity,
                 0, 0, 100, 50, 60, 0] for i in range(150)]
        if polarity == -1:
            rows.append([1, 1386325927, "bot", "читаю новости", 0, 0, 0, 1, 1, 1, 0])
        pd.DataFrame(rows).to_csv(folder / f"{name}.csv", sep=";", header=False, index=False)


def write_environment(project: Path, data: Path) -> None:
    conf = project / "conf" / "texts"
    conf.mkdir()
    catalog = {**{f"emotions.raw_{split}": {"type": "pandas.ParquetDataset", "filepath": str(data / f"{split}.parquet")}
                  for split in ("train", "test")},
               **{f"tweets.raw_{name}": {"type": "pandas.CSVDataset", "filepath": str(data / f"{name}.csv"),
                                         "load_args": {"sep": ";", "header": None, "names": TWEET_COLUMNS}}
                  for name in ("positive", "negative")}}
    layouts = {
        "emotions": {"posts": {"raw": {"train": "train", "test": "test"}, "columns": {"doc_text": "text"},
                               "labels": {"column": "labels", "names": EMOTIONS}, "generate_id": "post_id"}},
        "tweets": {"sentiment_texts": {"raw": {"positive": None, "negative": None},
                                       "columns": {"text_id": "id", "text": "ttext", "sentiment": "ttype"},
                                       "values": {"sentiment": {1: "positive", -1: "negative"}},
                                       "sample": {"rows": 200, "seed": 0}}},  # a corpus too large to embed whole
    }
    parameters = {"sources": {"emotions": {"layout": "emotions"}, "tweets": {"layout": "tweets"}},
                  "ingestion": {"checks": {"max_rejected_share": 0.05, "min_accepted_rows": 1}, "layouts": layouts}}
    topics = {"topics": {"sources": ["emotions"], "models": {
        "tfidf_logreg": {"kind": "head", "features": "tfidf", "head": "logreg", "c": 4.0},
        "embedding_tfidf_logreg": {"kind": "head", "features": "both", "head": "logreg", "c": 4.0}},
        "min_label_count": 5, "threshold_shrinkage": "cv", "split_shares": {"train": 0.6, "validation": 0.2, "test": 0.2},
        "seed": 0}}
    serving = {"serving": {"exported_models": "data/06_models/served",
                           "topics": {"source": "emotions", "model": "embedding_tfidf_logreg", "alias": "champion"}}}
    for name, content in {"catalog_texts.yml": catalog, "parameters_ingestion.yml": parameters,
                          "parameters_topics.yml": topics, "parameters_serving.yml": serving}.items():
        (conf / name).write_text(yaml.safe_dump(content, allow_unicode=True))


@pytest.fixture
def own_app_caches():
    """Streamlit's resource cache outlives an AppTest within the process: the app's models are this project's
    only while the test runs."""
    import streamlit as st

    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def test_emotions_and_tweets_of_their_own_shapes_train_and_serve_by_configuration_only(tmp_path, monkeypatch,
                                                                                        own_app_caches):
    project = copy_project(tmp_path / "project")
    rng = np.random.default_rng(0)
    sizes = write_emotions(tmp_path, rng)
    write_tweets(tmp_path, rng)
    write_environment(project, tmp_path)
    result = run_kedro(project, "run", "--env", "texts", "--pipelines", "ingestion,text_embedding,topics,sentiment")

    posts = pd.read_parquet(project / "data" / "03_primary" / "emotions" / "posts.parquet")
    assert len(posts) == sum(sizes.values()) and set(posts["split"]) == {"train", "test"}
    assert posts["topics"].map(len).eq(0).mean() > 0.15  # texts with no emotion are kept, with no label
    assert set(posts["topics"].explode().dropna()) == set(EMOTIONS.values())
    topics = pd.read_csv(latest_version(project / "data" / "08_reporting" / "emotions" / "topics_comparison.csv"))
    assert set(topics["model"]) == {"tfidf_logreg", "embedding_tfidf_logreg"} and (topics["micro_f1"] > 0.8).all()

    # The tweet with a polarity of 0 is rejected, naming the column and the value; the rest is two-class sentiment.
    rejected = pd.read_parquet(project / "data" / "03_primary" / "tweets" / "rejected_sentiment_texts.parquet")
    assert len(rejected) == 1 and "sentiment" in rejected["reason"].iloc[0] and "0" in rejected["reason"].iloc[0]
    # 200 of the 300 accepted tweets are kept by the layout's sample, counted apart from the rejected.
    report = pd.read_csv(latest_version(project / "data" / "08_reporting" / "tweets" / "ingestion_report.csv")).iloc[0]
    assert (report["accepted"], report["rejected"], report["sampled_out"]) == (300, 1, 100)
    assert "accepted rows left out by a layout's sample: tweets.sentiment_texts 100 of 300" in result.stderr + result.stdout
    quality = pd.read_csv(latest_version(project / "data" / "08_reporting" / "tweets" / "sentiment_quality.csv"))
    assert (quality["n_test"] == 40).all() and (quality["macro_f1"] > 0.8).all()
    assert "tweets/sentiment_quality.csv" in result.stderr + result.stdout  # named in the run's closing summary

    # The served topic model is the emotions' own, registered under its alias; the service serves that family alone.
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    version = mlflow.MlflowClient().get_model_version_by_alias("socialml-topics", "champion")
    assert version.tags["socialml.source"] == "emotions"
    from socialml.serving.models import load_serving_models

    served = load_serving_models(project, "texts")
    assert served.families == ("topics",)
    probabilities = served.family("topics").probabilities("боюсь даже думать, что будет", "", "")
    assert pd.Series(probabilities).idxmax() == "fear"
    # The app offers the pages of the families served, here the topic classifier's alone.
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SOCIALML_PROJECT", str(project))
    monkeypatch.setenv("SOCIALML_ENV", "texts")
    app = AppTest.from_file(str(PROJECT_ROOT / "src" / "socialml" / "ui" / "app.py"), default_timeout=120).run()
    assert not app.exception and app.sidebar.radio(key="page").options == ["Topic classifier"]
