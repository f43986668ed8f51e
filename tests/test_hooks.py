import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
from kedro.io import DataCatalog
from kedro.pipeline import node, pipeline
from kedro_datasets.pandas import CSVDataset

from socialml.airflow_tasks import FINISH_LATER
from socialml.components.data.ingest import EmptySourceError
from socialml.components.evaluation.tables import comparison_table
from socialml.hooks import (
    HOST_TAG, PID_TAG, DurableRunHook, MissingRunInputError, RunInputsHook, RunSummaryHook, close_orphaned_runs,
    unserved_note,
)
from tests.conftest import copy_project, kedro_env


def test_a_zero_byte_raw_file_stops_the_run_naming_it(tmp_path):
    empty = tmp_path / "feed.csv"
    empty.write_bytes(b"")
    hook = DurableRunHook()
    hook.after_catalog_created(DataCatalog({"shop.raw_feed": CSVDataset(filepath=str(empty))}))
    with pytest.raises(EmptySourceError, match=r"shop.raw_feed: the file .*feed.csv is empty \(zero bytes"):
        hook.before_dataset_loaded("shop.raw_feed")
    empty.write_text("a,b\n1,2\n")
    hook.before_dataset_loaded("shop.raw_feed")  # a file with content is read as usual


def _first(frame, *others):
    return frame


def test_a_run_before_its_inputs_are_made_stops_naming_each_and_what_makes_it(tmp_path, monkeypatch):
    ingestion = pipeline([node(_first, "raw_users", "prm_users", name="ingest")])
    features = pipeline([node(_first, "prm_users", "feat_users", name="features")])
    ab_test = pipeline([node(_first, ["served_log", "prm_users"], "ab_report", name="compare")])
    monkeypatch.setattr("kedro.framework.project.pipelines",
                        {"__default__": ingestion + features + ab_test, "ingestion": ingestion, "ab_test": ab_test})
    served = CSVDataset(filepath=str(tmp_path / "served.csv"), metadata={"socialml": {"made_by": "the service"}})
    catalog = DataCatalog({name: CSVDataset(filepath=str(tmp_path / f"{name}.csv"))
                           for name in ("raw_users", "prm_users", "feat_users", "ab_report")} | {"served_log": served})
    hook = RunInputsHook()
    with pytest.raises(MissingRunInputError, match=r"prm_users \(made by `kedro run --pipelines ingestion`\); "
                                                   r"served_log \(made by the service\)"):
        hook.before_pipeline_run(ab_test, catalog)
    with pytest.raises(MissingRunInputError, match=r"these raw files are not there: raw_users \(.*raw_users.csv\)"):
        hook.before_pipeline_run(ingestion, catalog)
    (tmp_path / "raw_users.csv").write_text("user_id\n1\n")
    hook.before_pipeline_run(ingestion, catalog)
    (tmp_path / "prm_users.csv").write_text("user_id\n1\n")
    (tmp_path / "served.csv").write_text("user_id\n1\n")
    hook.before_pipeline_run(ab_test, catalog)  # everything made: the run goes ahead


def test_a_run_whose_raw_files_are_not_all_there_stops_before_any_node_naming_them_and_the_sources_that_have_theirs(
        tmp_path, monkeypatch):
    ingestion = sum((pipeline([node(_first, "raw_feed", "prm_feed", name="ingest_feed")], namespace=source)
                     for source in ("shop", "bank", "forum")), pipeline([]))
    monkeypatch.setattr("kedro.framework.project.pipelines", {"__default__": ingestion, "ingestion": ingestion})
    catalog = DataCatalog({f"{source}.raw_feed": CSVDataset(filepath=str(tmp_path / source / "feed.csv"))
                           for source in ("shop", "bank", "forum")})
    (tmp_path / "bank").mkdir()
    (tmp_path / "bank" / "feed.csv").write_text("a\n1\n")
    with pytest.raises(MissingRunInputError) as stop:
        RunInputsHook().before_pipeline_run(ingestion, catalog)
    assert str(stop.value).startswith(f"these raw files are not there: forum.raw_feed ({tmp_path}/forum/feed.csv); "
                                      f"shop.raw_feed ({tmp_path}/shop/feed.csv).")
    assert str(stop.value).endswith("or run the sources that have theirs: --namespaces bank")


def test_raw_inputs_read_from_a_database_are_checked_by_their_query_file_only(tmp_path, monkeypatch):
    from kedro_datasets.pandas import SQLQueryDataset, SQLTableDataset

    ingestion = pipeline([node(_first, ["raw_users", "raw_feed"], "prm_users", name="ingest")])
    monkeypatch.setattr("kedro.framework.project.pipelines", {"__default__": ingestion, "ingestion": ingestion})
    database = {"con": f"sqlite:///{tmp_path / 'platform.db'}"}
    query = tmp_path / "users.sql"
    catalog = DataCatalog({"raw_users": SQLQueryDataset(filepath=str(query), credentials=database),
                           "raw_feed": SQLTableDataset(table_name="feed", credentials=database)})
    with pytest.raises(MissingRunInputError, match=r"raw files are not there: raw_users \(.*users.sql\)\."):
        RunInputsHook().before_pipeline_run(ingestion, catalog)
    query.write_text("select 1 as user_id")
    RunInputsHook().before_pipeline_run(ingestion, catalog)  # the table is the database's to answer for


def test_a_stop_prints_its_message_without_a_traceback_and_fails_its_mlflow_run(tmp_path):
    project = copy_project(tmp_path)  # nothing served yet: no feed log to compare the A/B groups on
    result = subprocess.run([sys.executable, "-m", "kedro", "run", "--pipelines", "ab_test"], cwd=project,
                            env=kedro_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert ("stopped: this run needs what has not been made yet: raw_served_feed_log (made by the model service"
            in result.stderr.splitlines()[-1])
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True)
    assert runs["status"].tolist() == ["FAILED"]  # not FINISHED, as MLflow's exit handler would call it


def test_a_run_ends_with_a_summary_naming_its_mlflow_run_tables_and_rejections(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="socialml.hooks")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    comparison = CSVDataset(filepath=str(tmp_path / "audience_comparison.csv"))
    sentiment = CSVDataset(filepath=str(tmp_path / "sentiment_quality.csv"))
    catalog = DataCatalog({"demo.rpt_audience_comparison": comparison, "tweets.rpt_sentiment_quality": sentiment,
                           "demo.prm_rejected_users": CSVDataset(filepath=str(tmp_path / "rejected.csv"))})
    hook = RunSummaryHook()
    hook.after_catalog_created(catalog)
    hook.before_pipeline_run({"env": "tweets"})
    audience, _ = comparison_table([{"model": "catboost", "target": "sex", "roc_auc": 0.88, "gain_vs_majority": 0.38,
                                     "gain_low": 0.36, "gain_high": 0.4}], ["target", "roc_auc"], "audience",
                                   keys=("model", "target"))
    hook.after_dataset_saved("demo.rpt_audience_comparison", audience)
    quality, _ = comparison_table([{"model": "head", "macro_f1": 0.7}], "macro_f1", "sentiment")
    hook.after_dataset_saved("tweets.rpt_sentiment_quality", quality)  # a comparison by its content, not its name
    hook.after_dataset_saved("demo.prm_rejected_users", pd.DataFrame({"reason": ["age: -3 is below 0"] * 2}))
    hook.after_dataset_saved("demo.prm_users", pd.DataFrame())  # neither: not named
    hook.after_dataset_saved("tweets.counts_sentiment_texts", {"accepted": 300, "sampled_out": 100})
    hook.after_dataset_saved("demo.counts_users", {"accepted": 8, "sampled_out": 0})  # nothing left out: not named
    nodes = [node(_first, "a", "b", name="demo.topics.finetuned.train"), node(_first, "b", "c", name="quick"),
             node(_first, "c", "d", name="x" * 300)]
    for step, seconds in zip(nodes, (0.3, 0.0, 0.1)):
        hook.before_node_run(step)
        time.sleep(seconds)
        hook.after_node_run(step)
    # Each node is logged by its full (namespaced) name as it starts.
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("Running node: ")][:2] == [
        "Running node: demo.topics.finetuned.train", "Running node: quick"]
    experiment = mlflow.create_experiment("summary")
    with mlflow.start_run(experiment_id=experiment) as run, caplog.at_level(logging.INFO, logger="socialml.hooks"):
        hook.after_pipeline_run()
    summary = caplog.records[-1].getMessage()
    leader = "demo.rpt_audience_comparison (sex): catboost, roc_auc 0.880, +0.380 [+0.360, +0.400] over majority"
    assert ("leading models (95 % bootstrap intervals; gains are paired, over the table's baseline):\n"
            f"    {leader}") in summary
    assert f"MLflow run {run.info.run_id}" in summary and "`kedro mlflow ui --env tweets`, then" in summary
    # the run's page in MLflow's model-training view (MLflow 3 opens on its GenAI pages otherwise)
    assert f"/runs/{run.info.run_id}?workflowType=machine_learning" in summary
    assert f"{tmp_path / 'audience_comparison.csv'}, {tmp_path / 'sentiment_quality.csv'}" in summary
    assert "rows rejected at ingestion: demo.users 2" in summary and "prm_users" not in summary
    assert "accepted rows left out by a layout's sample: tweets.sentiment_texts 100 of 300" in summary
    assert "demo.users 0" not in summary
    # Slowest first, in the summary; each node's seconds in MLflow (a long name cut to MLflow's 250 characters).
    assert summary.index("longest nodes: demo.topics.finetuned.train") < summary.index("x" * 300) < summary.index("quick")
    metrics = mlflow.get_run(run.info.run_id).data.metrics
    assert metrics["node_seconds.demo.topics.finetuned.train"] >= 0.3
    assert 0.1 <= metrics["node_seconds." + "x" * 237] < metrics["node_seconds.demo.topics.finetuned.train"]
    assert set(metrics) == {"node_seconds.demo.topics.finetuned.train", "node_seconds.quick", "node_seconds." + "x" * 237}
    # The MLflow run page shows the same summary as the run's description.
    description = mlflow.get_run(run.info.run_id).data.tags["mlflow.note.content"]
    assert description.startswith("**Run finished in ") and f"- {leader}" in description
    assert "**Rows rejected at ingestion:** demo.users 2." in description
    assert "**Accepted rows left out by a layout's sample:** tweets.sentiment_texts 100 of 300." in description


def test_a_runs_own_description_is_kept_and_an_airflow_tasks_summary_writes_none(tmp_path, monkeypatch):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("described")
    hook = RunSummaryHook()
    hook.after_catalog_created(DataCatalog())
    with mlflow.start_run(experiment_id=experiment, description="tuning the ranker") as run:
        hook.before_pipeline_run({"env": None})
        hook.after_pipeline_run()
    assert mlflow.get_run(run.info.run_id).data.tags["mlflow.note.content"] == "tuning the ranker"
    monkeypatch.setenv(FINISH_LATER, "1")  # one task of a DAG run: it sees only its own nodes
    with mlflow.start_run(experiment_id=experiment) as run:
        hook.before_pipeline_run({"env": None})
        hook.after_pipeline_run()
    assert "mlflow.note.content" not in mlflow.get_run(run.info.run_id).data.tags


def test_runs_left_running_by_dead_processes_are_closed_as_killed(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("kill")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    client = mlflow.MlflowClient()
    runs = {}
    for name, pid in {"dead": int(dead.stdout), "alive": os.getpid()}.items():
        runs[name] = client.create_run(experiment, tags={PID_TAG: str(pid), HOST_TAG: os.uname().nodename}).info.run_id
    runs["other_host"] = client.create_run(experiment, tags={PID_TAG: dead.stdout.strip(), HOST_TAG: "elsewhere"}).info.run_id
    runs["untagged_new"] = client.create_run(experiment).info.run_id
    runs["untagged_old"] = client.create_run(experiment, start_time=int((time.time() - 3600) * 1000)).info.run_id
    assert sorted(close_orphaned_runs(experiment)) == sorted([runs["dead"], runs["untagged_old"]])
    statuses = {name: client.get_run(run_id).info.status for name, run_id in runs.items()}
    assert statuses == {"dead": "KILLED", "alive": "RUNNING", "other_host": "RUNNING", "untagged_new": "RUNNING",
                        "untagged_old": "KILLED"}


def test_a_run_that_trains_a_family_but_not_its_served_model_says_nothing_was_registered():
    logged = ["cedr.topics.tfidf_logreg.mdl_topic_classifier", "cedr.topics.embedding_logreg.mdl_topic_classifier",
              "tweets.sentiment.mdl_sentiment_model"]
    note = unserved_note("topics", "demo.topics.embedding_logreg.mdl_topic_classifier", logged)
    assert note == ("model registry: nothing registered for topics: serving names demo.topics.embedding_logreg."
                    "mdl_topic_classifier, which this run did not train; it trained cedr.topics.embedding_logreg."
                    "mdl_topic_classifier, cedr.topics.tfidf_logreg.mdl_topic_classifier (set serving.topics to "
                    "register one)")
    assert unserved_note("audience", "demo.audience.catboost.mdl_audience_model", logged) is None  # not trained


@pytest.mark.slow
def test_kedro_mlflow_ui_starts_from_the_environment_without_activating_it(tmp_path):
    project = copy_project(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # README command 1 runs .venv/bin/kedro without activating .venv: its bin folder is not on PATH.
    scripts = Path(sys.executable).parent
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != scripts)
    ui = subprocess.Popen([str(scripts / "kedro"), "mlflow", "ui", "--port", str(port), "--host", "127.0.0.1"],
                          cwd=project, env={**kedro_env(), "PATH": path}, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert ui.poll() is None, ui.stderr.read()[-3000:]  # FileNotFoundError: 'mlflow', before the fix
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the MLflow UI did not answer in 2 minutes"
            time.sleep(1)
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=30)
