"""The Streamlit app: every page through Streamlit's AppTest, and rendered in headless Chromium."""

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
from streamlit.testing.v1 import AppTest

from tests.conftest import PROJECT_ROOT, kedro_env

pytestmark = pytest.mark.slow
APP = PROJECT_ROOT / "src" / "socialml" / "ui" / "app.py"


@pytest.fixture(scope="module")
def app_env(trained_project: Path):
    saved = {k: os.environ.get(k) for k in ("SOCIALML_PROJECT", "SOCIALML_ENV")}
    os.environ.update(SOCIALML_PROJECT=str(trained_project), SOCIALML_ENV="test")
    yield trained_project
    for key, value in saved.items():
        os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


def open_page(page: str) -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.run()
    app.sidebar.radio(key="page").set_value(page).run()
    assert not app.exception, app.exception
    return app


def test_cluster_page_shows_map_sizes_and_cluster_table(app_env):
    app = open_page("Answer clusters")
    assert app.header[0].value == "Answer clusters"
    table = app.dataframe[0].value
    assert {"label", "size", "dominant_sentiment", "keywords", "representative_answers"} <= set(table.columns)
    assert (table["label"].str.len() > 0).all()
    assert len(app.selectbox[0].options) > 1
    app.selectbox[0].select_index(1).run()
    assert not app.exception and not app.dataframe[0].value["label"].equals(table["label"])


def test_topic_page_classifies_keeps_history_and_refuses_empty_text(app_env):
    app = open_page("Topic classifier")
    app.text_area(key="doc_text").input("Наша команда выиграла матч, болельщики ликуют")
    app.button[0].click().run()
    assert "sport" in app.markdown[-1].value
    app.text_area(key="doc_text").input("Депутаты приняли закон о выборах")
    app.button[0].click().run()
    history = app.dataframe[0].value
    assert len(history) == 2 and {"p_sport", "p_politics", "predicted"} <= set(history.columns)
    app.text_area(key="doc_text").input("   ")
    app.button[0].click().run()
    assert app.error and "at least one field" in app.error[0].value


def test_user_page_shows_feed_audience_and_offers(app_env):
    app = open_page("User")
    feed, offers = app.dataframe[0].value, app.dataframe[-1].value
    assert len(feed) == 5 and {"id", "text", "topic"} <= set(feed.columns)
    assert len(offers) == 5 and offers["rank"].tolist() == [1, 2, 3, 4, 5]
    assert any("Feed: group" in s.value for s in app.subheader)
    app.text_input(key="client_id").set_value("7590-VHVEG").run()
    assert any("unknown client" in s.value for s in app.subheader)


def render_in_chromium(url: str, until: str, profile: Path, timeout: float = 120) -> tuple[str, bytes]:
    """Open ``url`` in headless Chromium over the DevTools protocol; once the page's text contains
    ``until`` and the app has stopped running, return that text and a PNG screenshot."""
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
        while True:
            evaluated = call("Runtime.evaluate", expression=script, returnByValue=True)["result"]
            text, idle = evaluated.get("value", ["", False])  # no value: evaluated mid-navigation
            if until in text and idle:
                break
            assert time.monotonic() < deadline, f"the page never showed {until!r}: {text[:500]!r}"
            time.sleep(1)
        time.sleep(2)  # charts draw after the last script run
        png = base64.b64decode(call("Page.captureScreenshot", format="png")["data"])
        socket_.close()
        return text, png
    finally:
        browser.terminate()
        browser.wait(timeout=30)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed (scripts/install.sh --dev)")
def test_pages_render_in_headless_chromium(app_env, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**kedro_env(), "SOCIALML_PROJECT": str(app_env), "SOCIALML_ENV": "test"}
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
                               "--server.port", str(port), "--server.address", "127.0.0.1",
                               "--browser.gatherUsageStats", "false"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        text, png = render_in_chromium(f"http://127.0.0.1:{port}/", until="Cluster sizes", profile=tmp_path)
        (tmp_path / "app.png").write_bytes(png)
        assert "Answer clusters" in text and "Cluster sizes" in text
        assert "Traceback" not in text and "Error" not in text
        assert len(png) > 30_000  # a rendered page with a map and charts, not a skeleton
    finally:
        server.terminate()
        server.wait(timeout=30)
