"""One MLflow run per Airflow DAG run (slow): the exported DAG's task functions, each in a process of its own
as Airflow runs them, log into the run the first task opened, and only the last task registers models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.conftest import copy_project, kedro_env

pytestmark = pytest.mark.slow


def run_task(project: Path, function: str, *arguments) -> object:
    """``socialml.airflow_tasks.<function>(project, "socialml", "test", *arguments)`` in a new Python process."""
    code = ("import json, sys; from pathlib import Path; from socialml import airflow_tasks; "
            f"print(json.dumps(airflow_tasks.{function}(Path(sys.argv[1]), 'socialml', 'test', *json.loads(sys.argv[2]))))")
    result = subprocess.run([sys.executable, "-c", code, str(project), json.dumps(list(arguments))], cwd=project,
                            env=kedro_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_dag_run_is_one_mlflow_run_and_its_last_task_registers_the_models(tmp_path):
    project = copy_project(tmp_path / "project")
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env="test") as session:
        session.load_context()  # the pipeline registry follows the session's environment
        ingestion = [node.name for node in pipelines["ingestion"].nodes]
        client_table = [node.name for node in pipelines["feature_enrichment"].nodes
                        if any(out.endswith("feat_client_features") for out in node.outputs)]
        cross_sell = pipelines["cross_sell"].nodes
    training = client_table + [node.name for node in cross_sell
                               if any(out.endswith("mdl_cross_sell") for out in node.outputs)
                               or node.name.endswith("hide_held_out_products")]
    evaluation = [node.name for node in cross_sell if node.name not in training]

    run_id = run_task(project, "start_run", "__default__")
    for node_names in (ingestion, training, evaluation):  # the scores are logged after the models, by another task
        run_task(project, "run_nodes", "__default__", node_names, run_id)
    mlflow.set_tracking_uri(f"sqlite:///{project / 'data' / 'mlflow_test.db'}")
    client = mlflow.MlflowClient()
    experiment = mlflow.get_experiment_by_name("socialml-test").experiment_id
    assert [run.info.run_id for run in client.search_runs([experiment])] == [run_id]  # every task, one run
    run = client.get_run(run_id)
    assert run.data.tags["mlflow.runName"] == "test:__default__" and run.data.tags["socialml.env"] == "test"
    assert "demo/rpt_ingestion.csv" in {a.path for a in client.list_artifacts(run_id, "demo")}  # the ingestion task's
    assert run.data.metrics["demo/cross_sell/catboost_per_product/auc_per_client"] > 0  # by the evaluation task
    assert not client.search_registered_models()  # the node tasks leave registration to the last one

    run_task(project, "finish_run", run_id)
    version = client.get_model_version_by_alias("socialml-cross-sell", "champion")
    assert version.tags["socialml.run_id"] == run_id
    assert version.tags["socialml.dataset"] == "demo.cross_sell.catboost_per_product.mdl_cross_sell"
    assert "socialml.gate.socialml-cross-sell.champion" in client.get_run(run_id).data.tags  # the gate's decision
    [model] = [model for model in client.search_logged_models(experiment_ids=[experiment],
                                                              filter_string=f"source_run_id = '{run_id}'")
               if model.name == "demo-cross_sell-catboost_per_product-mdl_cross_sell"]
    own = {metric.key for metric in model.metrics}
    assert "demo/cross_sell/catboost_per_product/auc_per_client" in own  # a score logged two tasks after the model
    assert all(key.startswith("demo/cross_sell/catboost_per_product/") for key in own)
