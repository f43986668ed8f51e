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

from socialml.pipelines.sources import primary_table
from socialml.serving.models import project_context
from tests.conftest import PROJECT_ROOT, kedro_env, render_in_chromium

pytestmark = pytest.mark.slow
APP = PROJECT_ROOT / "src" / "socialml" / "ui" / "app.py"


@pytest.fixture(scope="module")
def app_env(trained_project: Path):
    import streamlit as st

    st.cache_resource.clear()  # it outlives an AppTest: an earlier test's app may have cached another project's models
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
    assert app.caption[0].value.startswith("Asks for neither")  # "Как вы оцениваете работу нашего сервиса?"
    app.selectbox[0].select_index(1).run()
    assert not app.exception and not app.dataframe[0].value["label"].equals(table["label"])
    assert app.caption[0].value.startswith("Asks for the good")  # "Что вам больше всего нравится в работе?"


def test_topic_page_classifies_keeps_history_and_refuses_empty_text(app_env):
    app = open_page("Topic classifier")
    assert "sport" in app.markdown[-1].value and not app.dataframe  # the example post, classified; no request yet
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


def frame_with(app: AppTest, columns: set[str]):
    return next(frame.value for frame in app.dataframe if columns <= set(frame.value.columns))


def test_user_page_shows_who_the_user_is_what_they_did_their_feed_and_audience(app_env):
    app = open_page("User")
    subheaders = [s.value for s in app.subheader]
    assert subheaders[0] == "Who they are" and any(s.startswith("Feed: group") for s in subheaders)
    assert "gender" in app.dataframe[0].value.columns  # the true attributes
    feed = frame_with(app, {"id", "text", "topic", "seen before"})
    assert len(feed) == 5 and not app.warning  # a user with a history: no cold-start flag
    with project_context(str(app_env), "test") as context:
        source = context.params["post_feed"]["ab_test"]["source"]
        events = context.catalog.load(f"{source}.{primary_table('feed_events')}")
    user = app.text_input(key="user_id").value
    seen = set(events.loc[events["user_id"].astype(str) == user, "post_id"])
    assert seen and feed["seen before"].tolist() == [post in seen for post in feed["id"]]
    history = frame_with(app, {"timestamp", "action", "post_id"})
    assert 0 < len(history) <= 10 and history["timestamp"].is_monotonic_decreasing
    assert any(s.startswith("What they did: ") and "views" in s for s in subheaders)
    charts = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    age = next(c for c in charts if c["layout"]["xaxis"]["title"]["text"] == "age")
    buckets = [x for trace in age["data"] for x in trace["x"]]
    ages = ["<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"]
    assert age["layout"]["xaxis"]["categoryarray"] == [bucket for bucket in ages if bucket in buckets]  # age order
    true_bucket = age["layout"]["title"]["text"].split("true: ")[1].rstrip(")")
    assert [t["x"] for t in age["data"] if t["name"] == "True"] == [[true_bucket]]  # the true bucket stands out


def test_an_unknown_user_is_flagged_as_a_cold_start(app_env):
    app = open_page("User")
    app.text_input(key="user_id").set_value("no-such-user").run()
    assert not app.exception
    assert "Not in the platform's users table" in app.info[0].value
    assert app.warning and "Cold start" in app.warning[0].value
    feed = frame_with(app, {"id", "text", "topic", "seen before"})
    assert len(feed) == 5 and not feed["seen before"].any()
    assert any(s.value == "What they did: nothing yet" for s in app.subheader)


def test_client_page_shows_holdings_and_offers(app_env):
    app = open_page("Client")
    held = frame_with(app, {"product_id", "since"})
    offers = frame_with(app, {"product_id", "rank", "score"})
    assert len(offers) == 5 and offers["rank"].tolist() == [1, 2, 3, 4, 5]
    assert not set(offers["product_id"]) & set(held["product_id"])  # nothing the client already holds
    app.text_input(key="client_id").set_value("7590-VHVEG").run()
    assert any("unknown client" in s.value for s in app.subheader)
    assert "Not in the clients table" in app.info[0].value


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
        # Each page opened by clicking its name in the sidebar, as a person would; `until` is text only it shows.
        for page, until in [(None, "Cluster sizes"), ("Topic classifier", "Predicted topics"), ("User", "What they did"),
                            ("Client", "Products to offer")]:
            profile = tmp_path / (page or "first page")
            profile.mkdir()
            text, png = render_in_chromium(f"http://127.0.0.1:{port}/", until=until, profile=profile, click=page)
            (profile / "app.png").write_bytes(png)
            assert "Traceback" not in text and "Error" not in text, (page, text[:1000])
            assert len(png) > 30_000, page  # a rendered page with its charts and tables, not a skeleton
    finally:
        server.terminate()
        server.wait(timeout=30)
