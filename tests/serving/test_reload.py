"""Reload protection and failure, on the service's app with stand-in model sets (the real ones: test_app.py)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from socialml.serving.app import create_app, reload_token
from socialml.serving.models import ServingModels

TOKEN = {"Authorization": "Bearer s3cret"}


def loader_of(*outcomes):
    """A loader that returns (or raises) each outcome in turn."""
    remaining = list(outcomes)

    def load() -> ServingModels:
        outcome = remaining.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return ServingModels(families=(), versions={"demo.mdl_post_feed": outcome})

    return load


def test_without_a_configured_token_reload_is_disabled():
    with TestClient(create_app(loader_of("v1", "v2"), families=())) as client:
        refused = client.post("/admin/reload", json={}, headers=TOKEN)
        assert refused.status_code == 403 and "SOCIALML_RELOAD_TOKEN" in refused.json()["reason"]
        assert client.get("/version").json()["models"] == {"demo.mdl_post_feed": "v1"}


def test_a_failed_reload_answers_503_with_the_reason_and_the_old_models_keep_serving():
    failure = EOFError("Ran out of input (demo.mdl_post_feed: a torn pickle)")
    with TestClient(create_app(loader_of("v1", failure, "v3"), families=(), reload_token="s3cret")) as client:
        failed = client.post("/admin/reload", json={}, headers=TOKEN)
        assert failed.status_code == 503 and failed.headers["content-type"] == "application/json"
        assert failed.json()["reason"] == "EOFError: Ran out of input (demo.mdl_post_feed: a torn pickle)"
        assert client.get("/version").json()["models"] == {"demo.mdl_post_feed": "v1"}
        reloaded = client.post("/admin/reload", json={}, headers=TOKEN)
        assert reloaded.status_code == 200 and reloaded.json()["models"] == {"demo.mdl_post_feed": "v3"}


def test_the_token_comes_from_the_environment_or_conf_local(tmp_path, monkeypatch):
    monkeypatch.delenv("SOCIALML_RELOAD_TOKEN", raising=False)
    assert reload_token(tmp_path) is None
    (tmp_path / "conf" / "local").mkdir(parents=True)
    (tmp_path / "conf" / "local" / "serving.yml").write_text("reload_token: from-file\n")
    assert reload_token(tmp_path) == "from-file"
    monkeypatch.setenv("SOCIALML_RELOAD_TOKEN", "from-env")
    assert reload_token(tmp_path) == "from-env"
