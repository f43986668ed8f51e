"""Runs killed at chosen moments (SIGTERM, SIGKILL mid-save), then checked and rerun (slow: CI runs them)."""

from __future__ import annotations

import json
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

from tests.conftest import TEST_DATA, copy_project, kedro_env, run_kedro

pytestmark = pytest.mark.slow
READERS = {".pkl": lambda p: pickle.loads(p.read_bytes()), ".parquet": pd.read_parquet, ".csv": pd.read_csv,
           ".json": lambda p: json.loads(p.read_text())}


def run_until(project: Path, marker: str, number: signal.Signals, *arguments: str) -> int:
    """Start `kedro run --env test` (with ``arguments``), send ``number`` as soon as a log line contains
    ``marker``; its exit code. The run logs its dataset saves (at DEBUG in the project's logging config)
    so that a save can be the marker."""
    env = kedro_env()
    config = yaml.safe_load(Path(env["KEDRO_LOGGING_CONFIG"]).read_text())
    config["loggers"]["kedro.io.data_catalog"] = {"level": "INFO"}
    logging_config = project / "logging_with_saves.yml"
    logging_config.write_text(yaml.safe_dump(config))
    process = subprocess.Popen([sys.executable, "-m", "kedro", "run", "--env", "test", *arguments], cwd=project,
                               env={**env, "KEDRO_LOGGING_CONFIG": str(logging_config)},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            process.send_signal(number)
            break
    else:
        pytest.fail(f"the run ended before '{marker}':\n{''.join(seen[-30:])}")
    process.stdout.close()
    return process.wait(timeout=120)


def assert_latest_versions_load(data: Path) -> int:
    """Every file under data/ is whole: no empty file, and each dataset's latest version loads."""
    checked = 0
    for path in data.rglob("*"):
        if not path.is_file() or path.name.endswith(".partial") or path.suffix not in READERS:
            continue
        assert path.stat().st_size > 0, f"{path} is empty"
        versions = path.parent.parent
        if path.parent.name != path.name and versions.name == path.name:  # a versioned dataset's file
            latest = sorted(v for v in versions.iterdir() if (v / path.name).is_file())[-1]
            if latest != path.parent:
                continue
        READERS[path.suffix](path)
        checked += 1
    return checked


def registry(project: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'data' / 'mlflow_test.db'}")


def run_statuses(project: Path) -> list[str]:
    client = registry(project)
    experiment = client.get_experiment_by_name("socialml-test")
    return [run.info.status for run in client.search_runs([experiment.experiment_id])]


# The pipelines the served feed and cross-sell models need, and the sentiment, whose model the SIGKILL tears (not
# topics, clustering or audience: the test reads none of their outputs, and they would double its time)
PIPELINES = ("--pipelines", "ingestion,feature_enrichment,text_embedding,sentiment,post_feed,cross_sell")


def test_killed_runs_leave_whole_files_closed_mlflow_runs_and_the_registry_serves_a_finished_runs_models(tmp_path):
    project = copy_project(tmp_path)
    data = project / TEST_DATA
    # SIGTERM mid-run: the MLflow run says KILLED at once.
    assert run_until(project, "Completed 12 out of", signal.SIGTERM, *PIPELINES) == 128 + signal.SIGTERM
    assert run_statuses(project) == ["KILLED"]
    # SIGKILL just as a model starts being saved (the sentiment model): nothing it leaves loads as if
    # whole.
    assert run_until(project, "Saving data to demo.mdl_sentiment_model", signal.SIGKILL, *PIPELINES) != 0
    assert assert_latest_versions_load(data) > 0
    assert sorted(run_statuses(project)) == ["KILLED", "RUNNING"]
    # A rerun recovers, closes the run the SIGKILL left RUNNING, and registers its models.
    run_kedro(project, "run", "--env", "test", *PIPELINES)
    assert sorted(run_statuses(project)) == ["FINISHED", "KILLED", "KILLED"]
    assert not list(data.rglob(".*.partial"))  # what the killed runs half-wrote is cleared
    [finished] = [run.info.run_id for run in registry(project).search_runs(
        [registry(project).get_experiment_by_name("socialml-test").experiment_id],
        filter_string="attributes.status = 'FINISHED'")]
    # Killed after the feed's control model was saved, before its test model: the registry, which only a
    # finished run updates, still serves the pair that run registered. (The feed's pipeline alone: it reads
    # what the finished run wrote.)
    assert run_until(project, "Saving data to demo.post_feed.ranker_text.mdl_post_feed", signal.SIGKILL,
                     "--pipelines", "post_feed") != 0
    assert assert_latest_versions_load(data) > 0
    control = data / "06_models" / "demo" / "post_feed" / "ranker.pkl"
    assert len(list(control.iterdir())) >= 2  # the killed run saved a newer control model

    from socialml.serving.models import load_serving_models

    models = load_serving_models(project, "test", families=("feed", "cross_sell"))
    assert {m.run_id for m in models.served} == {finished} and {m.origin for m in models.served} == {"registry"}
    feed = models.family("feed")
    assert len(feed.recommend_posts(feed.models["control"].history_.users[0], pd.Timestamp("2024-02-01"), 5).posts) == 5
