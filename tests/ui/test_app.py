"""The Streamlit app: every page through Streamlit's AppTest, and rendered in headless Chromium."""

from __future__ import annotations

import json
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

from tests.conftest import PROJECT_ROOT, kedro_env, render_in_chromium

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
    traces = json.loads(app.get("plotly_chart")[0].proto.spec)["data"]
    assert [t["name"] for t in traces if t.get("mode") == "markers"] == ["threshold"]  # each topic's threshold drawn
    app.text_area(key="doc_text").input("   ")
    app.button[0].click().run()
    assert app.error and "at least one field" in app.error[0].value


def test_user_page_shows_feed_audience_and_offers(app_env):
    app = open_page("User")
    feed, offers = app.dataframe[0].value, app.dataframe[-1].value
    assert len(feed) == 5 and {"id", "text", "topic"} <= set(feed.columns)
    assert len(offers) == 5 and offers["rank"].tolist() == [1, 2, 3, 4, 5]
    assert any("Feed: group" in s.value for s in app.subheader)
    charts = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    age = next(c["data"][0]["x"] for c in charts if c["layout"]["xaxis"]["title"]["text"] == "age")
    ages = ["<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"]
    assert len(age) > 1 and age == [bucket for bucket in ages if bucket in age]  # buckets in age order, not by name
    app.text_input(key="client_id").set_value("7590-VHVEG").run()
    assert any("unknown client" in s.value for s in app.subheader)


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
