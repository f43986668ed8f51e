"""The README's commands and paths are true: every path it names exists, every console script it calls
is installed, every pipeline it runs is registered."""

import re
import sys
from pathlib import Path

import pytest
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = "\n".join(re.findall(r"```bash\n(.*?)```", README, re.S))
# Paths in the repository (data/, mlflow.db and conf/local are made by runs and users, not shipped).
PATHS = sorted(set(re.findall(r"(?<![\w/.-])((?:src|conf/(?!local)|docs|benchmarks|scripts|deploy|tests|\.ci)"
                              r"[\w./-]*[\w/])", README)))


def test_the_readme_has_commands_and_paths_to_check():
    assert "kedro run" in COMMANDS and len(PATHS) > 10


@pytest.mark.parametrize("path", PATHS)
def test_every_path_the_readme_names_exists(path):
    assert (ROOT / path).exists(), f"README names {path}, which is not in the repository"


def test_every_console_script_the_readme_calls_is_installed():
    """Also the Jupyter front ends that `kedro jupyter notebook|lab` start."""
    scripts = set(re.findall(r"\.venv/bin/([\w-]+)", COMMANDS)) | {"kedro"}
    scripts |= {f"jupyter-{tool}" for tool in re.findall(r"kedro jupyter (\w+)", COMMANDS)}  # what Kedro starts
    installed = Path(sys.executable).parent
    assert not [s for s in scripts if not (installed / s).exists()]


def test_every_pipeline_the_readme_runs_is_registered():
    named = {name for group in re.findall(r"--pipelines[ =]([\w,]+)", COMMANDS) for name in group.split(",")}
    bootstrap_project(ROOT)
    with KedroSession.create(project_path=ROOT) as session:
        session.load_context()
        assert named and named <= set(pipelines), f"not registered: {sorted(named - set(pipelines))}"
