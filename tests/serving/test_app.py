"""The model service as users start it: a real uvicorn server on loopback over a trained project."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import psutil
import pytest

from socialml.components.evaluation.ab_test import assign_group
from tests.conftest import PROJECT_ROOT, TEST_DATA, kedro_env, render_in_chromium, run_kedro

pytestmark = pytest.mark.slow
AB = {"salt": "socialml-feed-ab", "test_share": 0.5}  # conf/test/parameters_post_feed.yml
TOKEN = "test-reload-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def service(trained_project: Path):
    port = free_port()
    log = trained_project / "serve.log"
    process = subprocess.Popen([sys.executable, "-m", "socialml.serving.supervisor", "--project", str(trained_project),
                                "--env", "test", "--port", str(port)], cwd=trained_project,
                               env={**kedro_env(), "SOCIALML_RELOAD_TOKEN": TOKEN},
                               stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("the service did not become ready: " + log.read_text()[-3000:])
    yield url, trained_project
    process.terminate()
    process.wait(timeout=30)


def registry_client(project: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'data' / 'mlflow_test.db'}")


def primary(project: Path, table: str) -> pd.DataFrame:
    return pd.read_parquet(project / TEST_DATA / "03_primary" / "demo" / f"{table}.parquet")


def test_health_ready_and_the_registered_models_in_use(service):
    url, project = service
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    version = httpx.get(f"{url}/version").json()
    assert version["families"] == ["feed", "topics", "clusters", "audience", "cross_sell"]
    served = {(m["name"], m["alias"]): m for m in version["models"]}
    assert set(served) == {("socialml-feed", "control"), ("socialml-feed", "test"), ("socialml-topics", "champion"),
                           ("socialml-clusters", "champion"), ("socialml-audience", "champion"),
                           ("socialml-cross-sell", "champion")}
    client = registry_client(project)
    for (name, alias), model in served.items():
        holder = client.get_model_version_by_alias(name, alias)
        assert model["origin"] == "registry" and alias in model["aliases"]
        assert (model["version"], model["run_id"]) == (str(holder.version), holder.run_id)


def test_the_feed_answers_with_the_users_group_and_five_posts(service):
    url, project = service
    users = primary(project, "users")["user_id"].head(20).tolist()
    assert all(len(user) == 36 for user in users)  # the test platform's user ids are UUIDs
    for user in users:
        response = httpx.get(f"{url}/post/recommendations/", params={"id": user, "time": "2024-01-25T12:00:00",
                                                                     "limit": 5})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["exp_group"] == assign_group(user, AB["salt"], AB["test_share"])
        assert body["model"] == {"control": "ranker", "test": "ranker_text"}[body["exp_group"]]
        assert len(body["recommendations"]) == 5 and {"id", "text", "topic"} <= set(body["recommendations"][0])
        assert all(post["id"].startswith("post-") for post in body["recommendations"])
        assert body["cold_start"] is False
    assert len({assign_group(u, AB["salt"], AB["test_share"]) for u in users}) == 2  # both groups served


def test_an_unknown_user_gets_a_cold_start_feed(service):
    url, _ = service
    body = httpx.get(f"{url}/post/recommendations/", params={"id": 987654321}).json()
    assert len(body["recommendations"]) == 5 and body["cold_start"] is True


def test_a_far_future_request_sees_every_post_and_one_before_the_first_none(service):
    """Past 2262 a time does not fit pandas' nanoseconds: it had wrapped around to 1830, before every post,
    and the feed came back empty with status 200."""
    url, project = service
    user = primary(project, "users")["user_id"].iloc[0]
    for time in ("2262-04-12T00:00:00", "3000-01-01T00:00:00", "9999-12-31T23:59:59"):
        body = httpx.get(f"{url}/post/recommendations/", params={"id": user, "time": time}).json()
        assert len(body["recommendations"]) == 5, (time, body)
    body = httpx.get(f"{url}/post/recommendations/", params={"id": user, "time": "1970-01-01T00:00:00"}).json()
    assert body["recommendations"] == []  # no post was published yet


@pytest.mark.parametrize("params", [{"id": ""}, {"id": "x" * 201}, {}, {"id": 1, "limit": 0},
                                    {"id": 1, "time": "yesterday"}])
def test_malformed_feed_requests_get_422_json(service, params):
    url, _ = service
    response = httpx.get(f"{url}/post/recommendations/", params=params)
    assert response.status_code == 422 and response.json()["error"] == "invalid request"


def test_topics_take_a_text_or_three_fields_and_refuse_empty_ones(service):
    url, _ = service
    body = httpx.post(f"{url}/topics", json={"text": "Наша команда выиграла матч, болельщики ликуют"}).json()
    assert set(body["probabilities"]) >= {"sport", "politics"} and body["probabilities"]["sport"] > 0.5
    fields = httpx.post(f"{url}/topics", json={"doc_text": "", "image2text": "футболисты на поле", "speech2text": ""})
    assert fields.status_code == 200
    for bad in ({}, {"text": "   "}, {"doc_text": 5}, {"text": "\u0000", "image2text": "\u200b"}):
        assert httpx.post(f"{url}/topics", json=bad).status_code == 422
    both = httpx.post(f"{url}/topics", json={"text": "матч", "doc_text": "выборы"})
    assert both.status_code == 422 and "not both" in both.json()["detail"][0]["msg"]
    with_caption = httpx.post(f"{url}/topics", json={"text": "матч", "image2text": "футболисты на поле"})
    assert with_caption.status_code == 200
    broken = httpx.post(f"{url}/topics", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 422 and "detail" in broken.json()


def test_answers_are_assigned_to_a_cluster_with_sentiment(service):
    url, project = service
    question = primary(project, "answers")["question_id"].iloc[0]
    assert question.startswith("Q")  # the test platform's question ids are strings
    body = httpx.post(f"{url}/clusters/assign", json={"question_id": question, "answer": "всё супер 👍👍"}).json()
    assert {"cluster", "label", "sentiment", "sentiment_probabilities"} <= set(body)
    assert body["sentiment"] in {"positive", "neutral", "negative"}
    # What the question asks for colours a new answer as it does the clustered ones.
    questions = primary(project, "answers").drop_duplicates("question_id").set_index("question_text")["question_id"]
    for question_text, answer, expected in (("Что мешает вам работать эффективнее?", "бюрократия", "negative"),
                                            ("Что вам больше всего нравится в работе?", "ничего", "negative"),
                                            ("Что вам больше всего нравится в работе?", "зарплата", "positive")):
        framed = httpx.post(f"{url}/clusters/assign", json={"question_id": questions[question_text], "answer": answer})
        assert framed.json()["sentiment"] == expected, (question_text, answer, framed.json())
    unknown = httpx.post(f"{url}/clusters/assign", json={"question_id": "Q1", "answer": "да"})
    assert unknown.status_code == 404 and "unknown question_id" in unknown.json()["detail"]
    for blank in ("  ", "\u0000\u0000", "\t\u200b\n"):  # white space, NULs, a zero-width space: nothing to read
        assert httpx.post(f"{url}/clusters/assign", json={"question_id": question, "answer": blank}).status_code == 422


def test_audience_probabilities_come_from_a_viewing_history(service):
    url, project = service
    views = primary(project, "views").head(30)
    history = [{"item_id": i, "timestamp": t.isoformat(), "watch_seconds": 120.0}
               for i, t in zip(views["item_id"], views["timestamp"])]
    body = httpx.post(f"{url}/audience", json={"views": history}).json()
    assert sum(body["sex"].values()) == pytest.approx(1, abs=1e-4) and set(body["sex"]) == {"female", "male"}
    assert sum(body["age"].values()) == pytest.approx(1, abs=1e-4) and body["known_items"] == 30
    assert httpx.post(f"{url}/audience", json={"views": []}).status_code == 422


def test_cross_sell_ranks_unheld_products_and_answers_unknown_clients(service):
    url, project = service
    holdings = primary(project, "holdings")
    client = holdings["client_id"].iloc[0]
    assert isinstance(client, str) and "-" in client  # the test platform's client ids look like "0001-ABCDE"
    body = httpx.get(f"{url}/cross-sell/{client}", params={"limit": 3}).json()
    assert body["known_client"] and [p["rank"] for p in body["products"]] == [1, 2, 3]
    assert not set(holdings.loc[holdings["client_id"] == client, "product_id"]) & {p["product_id"] for p in body["products"]}
    unknown = httpx.get(f"{url}/cross-sell/7590-VHVEG").json()
    assert unknown["client_id"] == "7590-VHVEG" and not unknown["known_client"] and len(unknown["products"]) == 5
    assert httpx.get(f"{url}/cross-sell/{'x' * 201}").status_code == 422
    slashed = httpx.get(f"{url}/cross-sell/BR%2F0042").json()  # an unknown client whose id holds a slash
    assert slashed["client_id"] == "BR/0042" and not slashed["known_client"] and len(slashed["products"]) == 5


def test_reload_starts_a_new_worker_without_dropping_requests(service):
    url, _ = service
    statuses, stop = [], threading.Event()
    before = httpx.get(f"{url}/version").json()

    def hammer():
        with httpx.Client() as client:
            while not stop.is_set():
                statuses.append(client.get(f"{url}/post/recommendations/", params={"id": 107}).status_code)

    worker = threading.Thread(target=hammer)
    worker.start()
    reloaded = httpx.post(f"{url}/admin/reload", json={}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300)
    time.sleep(2)  # past the old worker's drain
    stop.set()
    worker.join()
    assert reloaded.status_code == 200 and reloaded.json()["reloaded"], reloaded.text
    assert statuses and set(statuses) == {200}
    after = httpx.get(f"{url}/version").json()
    assert after["worker_pid"] != before["worker_pid"] and after["models"] == before["models"]


def test_workers_fork_from_a_template_that_is_replaced_when_it_dies(service):
    url, project = service
    worker = psutil.Process(httpx.get(f"{url}/version").json()["worker_pid"])
    template = worker.parent()
    assert "socialml.serving.template" in template.cmdline()
    supervisor = template.parent()
    assert "socialml.serving.supervisor" in supervisor.cmdline()
    # The template imports what the first worker imported, for the next one.
    deadline = time.monotonic() + 120
    while not re.search(r"template: [1-9]\d* modules imported", (project / "serve.log").read_text()):
        assert time.monotonic() < deadline, "the template did not preload the worker's modules"
        time.sleep(1)

    template.kill()
    assert exited(template)
    assert httpx.get(f"{url}/post/recommendations/", params={"id": 107}).status_code == 200  # serving goes on
    reloaded = httpx.post(f"{url}/admin/reload", json={}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300)
    assert reloaded.status_code == 200, reloaded.text
    time.sleep(2)  # past the old worker's drain
    new_worker = psutil.Process(httpx.get(f"{url}/version").json()["worker_pid"])
    assert new_worker.pid != worker.pid and new_worker.parent().pid not in (template.pid, supervisor.pid)
    assert new_worker.parent().parent().pid == supervisor.pid
    assert exited(worker)  # drained and gone


def exited(process: psutil.Process, timeout: float = 30.0) -> bool:
    """Whether ``process`` exits within ``timeout`` s (a zombie has: its parent may not have reaped it yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.2)
    return False


def test_a_reload_that_meets_a_damaged_model_answers_503_and_the_running_worker_keeps_serving(service):
    url, project = service
    client = registry_client(project)
    champion = client.get_model_version_by_alias("socialml-topics", "champion")
    location = Path(client.get_model_version_download_uri("socialml-topics", champion.version).removeprefix("file://"))
    pickled = (location if location.is_absolute() else project / location) / "python_model.pkl"
    intact = pickled.read_bytes()
    before = httpx.get(f"{url}/version").json()["worker_pid"]
    pickled.write_bytes(intact[: len(intact) // 2])  # a torn write
    try:
        failed = httpx.post(f"{url}/admin/reload", json={}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300)
    finally:
        pickled.write_bytes(intact)
    assert failed.status_code == 503 and failed.headers["content-type"] == "application/json"
    assert failed.json()["reloaded"] is False and "Error" in failed.json()["reason"]
    assert {m["name"] for m in failed.json()["models"]} >= {"socialml-topics"}  # what still serves
    assert httpx.get(f"{url}/version").json()["worker_pid"] == before
    assert httpx.post(f"{url}/topics", json={"text": "матч"}).status_code == 200


def test_reload_needs_the_token_and_a_json_request(service):
    url, _ = service
    assert httpx.post(f"{url}/admin/reload", json={}).status_code == 401
    assert httpx.post(f"{url}/admin/reload", json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    # What a web page can send to loopback without a preflight: text/plain, even with the right token.
    refused = httpx.post(f"{url}/admin/reload", content="{}", headers={"Authorization": f"Bearer {TOKEN}",
                                                                        "Content-Type": "text/plain"})
    assert refused.status_code == 415 and refused.json()["reloaded"] is False


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed (scripts/install.sh --dev)")
def test_the_api_docs_render_offline_in_headless_chromium(service, tmp_path):
    url, _ = service
    assert "cdn" not in httpx.get(f"{url}/docs").text.lower()
    text, _ = render_in_chromium(f"{url}/docs", until="/post/recommendations/", profile=tmp_path)
    assert "/cross-sell/{client_id}" in text and "/admin/reload" in text
    text, _ = render_in_chromium(f"{url}/redoc", until="recommendations", profile=tmp_path / "redoc")


def test_served_feeds_are_logged_and_the_ab_test_pipeline_compares_the_groups(service):
    url, project = service
    for user in primary(project, "users")["user_id"].head(40):
        httpx.get(f"{url}/post/recommendations/", params={"id": user, "time": "2024-01-20T08:00:00"})
    log = [json.loads(line) for line in (project / TEST_DATA / "01_raw" / "serving" / "feed_log.jsonl").read_text().splitlines()]
    assert {"timestamp", "user_id", "exp_group", "model", "post_ids"} <= set(log[-1])
    run_kedro(project, "run", "--env", "test", "--pipelines", "ab_test")
    report_folder = project / TEST_DATA / "08_reporting" / "demo" / "ab_test.json"
    text = (sorted(report_folder.iterdir())[-1] / "ab_test.json").read_text()
    report = json.loads(text, parse_constant=lambda constant: pytest.fail(f"ab_test.json holds {constant}, not JSON"))
    assert report["requests_control"] + report["requests_test"] == len(log)
    assert 0 <= report["hit_rate_control"] <= 1 and "p_value" in report


FEED_ONLY = """
import json, sys
from fastapi.testclient import TestClient
from socialml.serving.app import create_app
from socialml.serving.models import load_serving_models

# No registry answers on this port: the models come from the folder the run exported.
models = load_serving_models(sys.argv[1], "test", ["feed"], tracking_uri="http://127.0.0.1:9")
with TestClient(create_app(lambda: models, ["feed"])) as client:
    print(json.dumps({"feed": client.get("/post/recommendations/", params={"id": 1}).status_code,
                      "topics": client.post("/topics", json={"text": "матч"}).status_code,
                      "version": client.get("/version").json(),
                      "text_libraries": [m for m in ("torch", "transformers") if m in sys.modules]}))
"""


def test_a_feed_only_service_without_a_registry_serves_the_exported_models_and_loads_no_text_model(trained_project):
    result = subprocess.run([sys.executable, "-c", FEED_ONLY, str(trained_project)], cwd=trained_project,
                            env={**kedro_env(), "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    assert answers["feed"] == 200 and answers["topics"] == 404
    assert answers["version"]["families"] == ["feed"]
    assert {(m["alias"], m["origin"]) for m in answers["version"]["models"]} == {("control", "exported"),
                                                                                 ("test", "exported")}
    assert "serving the export in" in result.stdout + result.stderr
    assert answers["text_libraries"] == []  # the memory a feed process saves: no torch, no tokenizer


def test_unknown_families_are_refused_by_name():
    result = subprocess.run([sys.executable, "-m", "socialml.serving.supervisor", "--families", "feed,recsys"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "unknown families ['recsys']" in result.stderr


@pytest.mark.parametrize(("arguments", "refusal"), [
    (["--env", "reel"], "there is no environment 'reel': conf/ has ["),
    (["--project", "{tmp}"], "{tmp} is not a Kedro project (it has no pyproject.toml)"),
])
def test_a_misspelt_environment_or_a_folder_that_is_no_project_is_refused_in_one_line(arguments, refusal, tmp_path):
    result = subprocess.run([sys.executable, "-m", "socialml.serving.supervisor",
                             *(a.format(tmp=tmp_path) for a in arguments)],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert refusal.format(tmp=tmp_path) in result.stderr.splitlines()[-1]


def test_fuzzing_the_openapi_schema_finds_no_server_error(service):
    url, project = service
    result = subprocess.run([sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
                             "--checks", "not_a_server_error", "--max-examples", "15", "--exclude-path", "/admin/reload",
                             "--seed", "1"], cwd=project, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
