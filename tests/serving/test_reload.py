"""Reload protection on the service's app (the real reload, a new worker process: test_app.py)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from socialml.serving.app import create_app
from socialml.serving.loading import ServedModel, TextEncoders
from socialml.serving.models import ServingModels
from socialml.serving.supervisor import reload_token

TOKEN = {"Authorization": "Bearer s3cret"}
SERVED = ServedModel("feed", "socialml-feed", "control", "1", "run-1", ["control"], "registry")


def app_with(reloader=None, token=None):
    def load() -> ServingModels:
        return ServingModels({}, [SERVED], TextEncoders())

    return create_app(load, families=(), reload_token=token, reloader=reloader)


def test_without_a_configured_token_reload_is_disabled():
    asked = []
    with TestClient(app_with(lambda: asked.append(1) or {"reloaded": True, "models": []})) as client:
        refused = client.post("/admin/reload", json={}, headers=TOKEN)
        assert refused.status_code == 403 and "SOCIALML_RELOAD_TOKEN" in refused.json()["reason"]
        assert not asked


def test_reload_needs_the_token_and_a_json_body_before_anything_is_loaded():
    asked = []
    with TestClient(app_with(lambda: asked.append(1) or {"reloaded": True, "models": []}, "s3cret")) as client:
        assert client.post("/admin/reload", json={}).status_code == 401
        assert client.post("/admin/reload", json={}, headers={"Authorization": "Bearer s3cre"}).status_code == 401
        plain = client.post("/admin/reload", content="{}", headers={**TOKEN, "Content-Type": "text/plain"})
        assert plain.status_code == 415 and plain.json()["reloaded"] is False
        assert not asked
        assert client.post("/admin/reload", json={}, headers=TOKEN).status_code == 200 and asked == [1]


def test_a_failed_reload_answers_503_json_with_the_reason_and_the_models_still_serving():
    failure = {"reloaded": False, "reason": "EOFError: Ran out of input (a torn model file)"}
    with TestClient(app_with(lambda: failure, "s3cret")) as client:
        failed = client.post("/admin/reload", json={}, headers=TOKEN)
        assert failed.status_code == 503 and failed.headers["content-type"] == "application/json"
        assert failed.json()["reason"] == failure["reason"]
        assert failed.json()["models"] == [SERVED.as_dict()]
        assert client.get("/version").json()["models"] == [SERVED.as_dict()]


def test_the_token_comes_from_the_environment_or_conf_local(tmp_path, monkeypatch):
    monkeypatch.delenv("SOCIALML_RELOAD_TOKEN", raising=False)
    assert reload_token(tmp_path) is None
    (tmp_path / "conf" / "local").mkdir(parents=True)
    (tmp_path / "conf" / "local" / "serving.yml").write_text("reload_token: from-file\n")
    assert reload_token(tmp_path) == "from-file"
    monkeypatch.setenv("SOCIALML_RELOAD_TOKEN", "from-env")
    assert reload_token(tmp_path) == "from-env"
