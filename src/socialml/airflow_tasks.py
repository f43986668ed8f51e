"""What the exported Airflow DAG's tasks run (``deploy/airflow/dag_template.j2``): one MLflow run per DAG run.

Each Airflow task is a process of its own, so a Kedro session of its own. The DAG's first task
creates the MLflow run (:func:`start_run`); every node task logs into that run (:func:`run_nodes`),
its models included, but neither gives them their metrics nor registers them, since the held-out
scores are logged by the evaluation tasks after it; the DAG's last task (:func:`finish_run`) does
both for the whole run, as ``kedro run`` does when its pipeline ends (``MlflowArtifactsHook``).
"""

from __future__ import annotations

import os
from pathlib import Path

import mlflow

# Set by a node task: the session's end leaves the models' metrics and registration to the DAG's last task.
FINISH_LATER = "SOCIALML_FINISH_RUN_LATER"


def _session(project: Path, package: str, env: str | None):
    from kedro.framework.project import configure_project
    from kedro.framework.session import KedroSession

    configure_project(package)
    return KedroSession.create(project_path=project, env=env)


def start_run(project: Path, package: str, env: str | None, pipeline: str) -> str:
    """A new MLflow run in the project's tracking server and experiment (as kedro-mlflow sets them up); its id."""
    with _session(project, package, env) as session:
        session.load_context()  # kedro-mlflow points MLflow at the project's tracking URI and experiment
        with mlflow.start_run(run_name=f"{env or 'base'}:{pipeline}") as run:
            return run.info.run_id


def run_nodes(project: Path, package: str, env: str | None, pipeline: str, node_names: list[str], run_id: str) -> None:
    """These nodes of the pipeline in one Kedro session, logging into the DAG run's MLflow run."""
    os.environ[FINISH_LATER] = "1"
    with _session(project, package, env) as session:
        session.load_context()
        with mlflow.start_run(run_id=run_id):  # kedro-mlflow logs into an active run and leaves it open
            session.run(pipeline_names=[pipeline], node_names=node_names)


def finish_run(project: Path, package: str, env: str | None, run_id: str) -> None:
    """Each model the run logged gets its own metrics; the served ones are registered and gated."""
    from socialml.hooks import MlflowArtifactsHook

    with _session(project, package, env) as session:
        context = session.load_context()
        finisher = MlflowArtifactsHook()
        finisher.after_context_created(context)
        finisher.after_catalog_created(context.catalog)
        with mlflow.start_run(run_id=run_id):
            finisher.finish_run(run_id)
