"""The registry follows the environment of Kedro's session, with or without hooks (as kedro viz runs it);
the session's MLflow store is the project's wherever the process runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT, kedro_env

LIST_NODES = """
import json
import sys
from kedro.framework.hooks.manager import _NullPluginManager
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

bootstrap_project(sys.argv[1])
with KedroSession.create(project_path=sys.argv[1], env=sys.argv[2] or None) as session:
    session._hook_manager = _NullPluginManager()  # as `kedro viz run` loads a project, without hooks
    session.load_context()
    print("REGISTRY", json.dumps({"sources": sorted({name.split(".")[0] for name in pipelines["__default__"].all_outputs()}),
                                  "ab_test_nodes": len(pipelines["ab_test"].nodes)}))
"""


def registry(env: str) -> dict:
    result = subprocess.run([sys.executable, "-c", LIST_NODES, str(PROJECT_ROOT), env], cwd=PROJECT_ROOT,
                            env=kedro_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(next(line for line in result.stdout.splitlines() if line.startswith("REGISTRY "))[9:])


def test_pipelines_follow_the_session_environment_without_hooks():
    real = registry("real")
    assert real["sources"] == ["karpov_social", "movielens_100k", "ru_intents_dev", "rusentiment", "santander_sample",
                               "sensitive_topics_multilabel", "survey_answers_ru", "telegram_news_topics"]
    assert real["ab_test_nodes"] == 1  # the real environment's feed A/B test
    assert registry("")["sources"] == ["demo"]  # the default environment: the demo platform


def test_a_bare_registry_command_reads_kedro_env():
    result = subprocess.run([sys.executable, "-m", "kedro", "registry", "describe", "cross_sell"], cwd=PROJECT_ROOT,
                            env={**kedro_env(), "KEDRO_ENV": "real"}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "santander_sample.cross_sell.ncf.fit" in result.stdout and "demo." not in result.stdout


def test_a_mistyped_option_stops_the_run_before_any_node_naming_the_part_and_the_allowed_options():
    result = subprocess.run([sys.executable, "-m", "kedro", "run", "--env", "test", "--params",
                             "clustering.algorithm.n_keyword=3"], cwd=PROJECT_ROOT, env=kedro_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "Running node" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr  # the message says it all
    assert result.stderr.splitlines()[-1] == (
        "stopped: answer clustering has no option 'n_keyword'; its options are ['clusterer', 'n_keywords', "
        "'n_representatives', 'outlier_reassign_quantile', 'reducer', 'sentiment_split_share']")


@pytest.mark.parametrize(("parameter", "stop"), [
    ("clustering.algorithm.clusterer.min_cluster_size=1",
     "clusterer 'hdbscan': option 'min_cluster_size' must be at least 2, got 1"),
    ("demo_platform.n_users=-5", "demo_platform.n_users must be positive, got -5"),
])
def test_an_option_out_of_range_stops_the_run_with_one_line_naming_it(parameter, stop):
    result = subprocess.run([sys.executable, "-m", "kedro", "run", "--env", "test", "--params", parameter],
                            cwd=PROJECT_ROOT, env=kedro_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == f"stopped: {stop}"


def test_a_stop_prints_its_traceback_above_its_line_when_asked():
    """SOCIALML_TRACEBACK=1 brings back the traceback a stop leaves out (a Kedro bug raised where Kedro checks a
    selection would otherwise lose its)."""
    for switch, traceback in (("1", True), ("0", False)):
        result = subprocess.run([sys.executable, "-m", "kedro", "run", "--env", "test", "--pipelines", "nosuch"],
                                cwd=PROJECT_ROOT, env={**kedro_env(), "SOCIALML_TRACEBACK": switch},
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 1 and ("Traceback" in result.stderr) is traceback
        assert result.stderr.splitlines()[-1].startswith("stopped: Failed to find the pipeline named 'nosuch'.")


def test_a_misspelt_environment_stops_the_run_naming_the_environments():
    result = subprocess.run([sys.executable, "-m", "kedro", "run", "--env", "reel"], cwd=PROJECT_ROOT,
                            env=kedro_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("stopped: there is no environment 'reel': conf/ has [") and "'real'" in last


@pytest.mark.parametrize(("selection", "stop"), [
    (["--namespaces", "demo_platfrom"], "stopped: Pipeline does not contain nodes with the following namespaces: "
                                        "['demo_platfrom']; the namespaces are ['demo']"),
    (["--pipelines", "nosuch"], "stopped: Failed to find the pipeline named 'nosuch'."),
])
def test_a_selection_that_matches_nothing_stops_in_one_line_naming_the_namespaces_there_are(selection, stop):
    result = subprocess.run([sys.executable, "-m", "kedro", "run", "--env", "test", *selection], cwd=PROJECT_ROOT,
                            env=kedro_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith(stop)


def test_runtime_parameters_change_one_key_of_a_block_the_environment_does_not_set():
    """Kedro alone would give `--env test` an `ingestion` block of the one key given, replacing base's layouts."""
    from socialml.pipeline_registry import ProjectConfigLoader
    from socialml.settings import CONFIG_LOADER_ARGS

    active = ProjectConfigLoader.active
    try:
        loader = ProjectConfigLoader(str(PROJECT_ROOT / "conf"), env="test", **CONFIG_LOADER_ARGS, runtime_params={
            "ingestion": {"layouts": {"demo_platform": {"sentiment_texts": {"sample": {"rows": 100}}}}},
            "demo_platform": {"n_users": 90}})
        parameters = loader["parameters"]
    finally:
        ProjectConfigLoader.active = active
    layouts = parameters["ingestion"]["layouts"]
    assert layouts["demo_platform"]["sentiment_texts"]["sample"] == {"rows": 100}
    assert layouts["demo_platform"]["sentiment_texts"]["raw"] and "rusentiment" in layouts  # base's layouts stay
    assert parameters["ingestion"]["checks"]["max_rejected_share"] == 0.05
    assert parameters["demo_platform"]["n_users"] == 90 and parameters["demo_platform"]["n_posts"] == 150  # test's


def test_runtime_parameters_still_resolve_inside_the_parameter_files(tmp_path):
    from socialml.pipeline_registry import ProjectConfigLoader
    from socialml.settings import CONFIG_LOADER_ARGS

    (tmp_path / "base").mkdir()
    (tmp_path / "test").mkdir()
    (tmp_path / "base" / "parameters.yml").write_text("model: {c: '${runtime_params:c, 1.0}', folds: 3}\n")
    (tmp_path / "test" / "parameters.yml").write_text("other: 1\n")
    active = ProjectConfigLoader.active
    try:
        parameters = ProjectConfigLoader(str(tmp_path), env="test", **CONFIG_LOADER_ARGS,
                                         runtime_params={"c": 4.0, "model": {"folds": 5}})["parameters"]
    finally:
        ProjectConfigLoader.active = active
    assert parameters["model"] == {"c": 4.0, "folds": 5} and parameters["other"] == 1 and parameters["c"] == 4.0


TRACKING_URI = """
import sys
import mlflow
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

bootstrap_project(sys.argv[1])
with KedroSession.create(project_path=sys.argv[1], env="test") as session:
    session.load_context()
    print("URI", mlflow.get_tracking_uri())
"""


def test_a_session_opened_outside_the_project_folder_tracks_to_the_projects_store(tmp_path):
    notebooks = tmp_path / "notebooks"  # where a `kedro jupyter` kernel runs
    notebooks.mkdir()
    result = subprocess.run([sys.executable, "-c", TRACKING_URI, str(PROJECT_ROOT)], cwd=notebooks,
                            env=kedro_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    uri = next(line for line in result.stdout.splitlines() if line.startswith("URI "))[4:]
    assert uri == f"sqlite:///{PROJECT_ROOT / 'data' / 'mlflow_test.db'}"
    assert not any(notebooks.rglob("*")), "the session left files in the folder it ran in"
