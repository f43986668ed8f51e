"""The training pipeline exported as an Airflow 3 DAG (docs/scaling.md), loaded by Airflow itself (slow).

Airflow lives in its own virtual environment (its pins are not the project's), built once per machine
in the user cache; the DAG is made the documented way and Airflow's DagBag must load it with the
Kedro pipeline's nodes and dependencies.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import MemoryDataset

from socialml.components.text.encoders import default_cache_dir
from tests.conftest import PROJECT_ROOT, copy_project, run_kedro

pytestmark = pytest.mark.slow
AIRFLOW = "apache-airflow==3.3.2"
TEMPLATE = PROJECT_ROOT / "deploy" / "airflow" / "dag_template.j2"

LOAD_DAGS = """
import json, sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
print(json.dumps({
    "errors": {path: str(error) for path, error in bag.import_errors.items()},
    "dags": {dag_id: {task.task_id: {"upstream": sorted(task.upstream_task_ids),
                                     "nodes": task.op_kwargs.get("node_names")} for task in dag.tasks}
             for dag_id, dag in bag.dags.items()},
}))
"""


@pytest.fixture(scope="session")
def airflow_python() -> Path:
    """Python of a virtual environment with Airflow; a half-built one (no marker) is built again."""
    venv = default_cache_dir() / f"venv-{AIRFLOW.replace('==', '-')}"
    marker = venv / "socialml-complete"
    if not marker.exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", AIRFLOW],
                       check=True, timeout=1200)
        marker.write_text(AIRFLOW)
    return venv / "bin" / "python"


def kedro_tasks_and_memory_datasets(project: Path) -> tuple[list, set[str]]:
    """The default pipeline's nodes, and the datasets it hands over in memory (no catalog entry)."""
    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        catalog = session.load_context().catalog
        pipeline = pipelines["__default__"]
        memory = {name for name in pipeline.datasets() if not name.startswith("params:") and name != "parameters"
                  and (name not in catalog or isinstance(catalog.get(name), MemoryDataset))}
    return pipeline.nodes, memory


def test_the_training_dag_loads_in_airflow_with_the_pipelines_nodes_and_dependencies(tmp_path, airflow_python):
    project = copy_project(tmp_path / "project")
    run_kedro(project, "airflow", "create", "--group-by", "memory", "--jinja-file", str(TEMPLATE))
    dags = project / "airflow_dags"
    loaded = subprocess.run([str(airflow_python), "-c", LOAD_DAGS, str(dags)], capture_output=True, text=True,
                            timeout=600, env={"PATH": "/usr/bin:/bin", "AIRFLOW_HOME": str(tmp_path / "airflow"),
                                              "HOME": str(tmp_path)})
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    answer = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert answer["errors"] == {} and list(answer["dags"]) == ["socialml"]
    tasks = answer["dags"]["socialml"]
    # One MLflow run per DAG run: opened before every node task, finished (scores, registry) after all of them.
    start, finish = tasks.pop("start_mlflow_run"), tasks.pop("finish_mlflow_run")
    assert start["upstream"] == [] and set(finish["upstream"]) == set(tasks) | {"start_mlflow_run"}
    assert all("start_mlflow_run" in spec["upstream"] for spec in tasks.values())

    nodes, memory = kedro_tasks_and_memory_datasets(project)
    task_of = {node: task for task, spec in tasks.items() for node in spec["nodes"]}
    assert sorted(task_of) == sorted(n.name for n in nodes)  # every node in one task, once
    assert sum(len(spec["nodes"]) for spec in tasks.values()) == len(nodes)
    producer = {output: node.name for node in nodes for output in node.outputs}
    needed = defaultdict(set)  # task → the tasks whose outputs it reads
    for node in nodes:
        for dataset in node.inputs:
            if dataset in producer:
                if dataset in memory:  # handed over in memory: must run in the same process
                    assert task_of[producer[dataset]] == task_of[node.name], dataset
                elif task_of[producer[dataset]] != task_of[node.name]:
                    needed[task_of[node.name]].add(task_of[producer[dataset]])
    assert {task: set(spec["upstream"]) - {"start_mlflow_run"} for task, spec in tasks.items()} == \
        {task: needed[task] for task in tasks}
    assert memory and len(tasks) < len(nodes)  # the report node and the ingest nodes share a task
