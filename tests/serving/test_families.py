"""A model family is one module: its state, a loader and a router; the service routes what it is given."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.testclient import TestClient

from socialml.serving.app import create_app
from socialml.serving.families import FAMILIES, Family
from socialml.serving.loading import LoadContext, ServedModel, ServiceOptions, TextEncoders
from socialml.serving.models import ServingModels


@dataclass
class Greeter:
    greeting: str


def load(context: LoadContext) -> Greeter:
    return Greeter(context.params["greeting"])


def router(current, options: ServiceOptions) -> APIRouter:
    routes = APIRouter(tags=["greeter"])

    @routes.get("/greet/{name}")
    def greet(name: str) -> dict:
        return {"text": f"{current().greeting}, {name}"}

    return routes


def test_a_family_added_from_outside_is_loaded_and_routed_alone(monkeypatch):
    monkeypatch.setitem(FAMILIES, "greeter", Family(load, router))
    context = LoadContext(catalog=None, params={"greeting": "Привет"}, store=None, encoders=TextEncoders())
    served = ServedModel("greeter", "socialml-greeter", "champion", "1", "run", ["champion"], "registry")
    models = ServingModels({"greeter": FAMILIES["greeter"].load(context)}, [served], TextEncoders())
    with TestClient(create_app(lambda: models, families=["greeter"])) as client:
        assert client.get("/greet/Аня").json() == {"text": "Привет, Аня"}
        assert client.get("/post/recommendations/", params={"id": 1}).status_code == 404  # not served here
        assert client.get("/version").json()["models"] == [served.as_dict()]
        assert "/greet/{name}" in client.get("/openapi.json").json()["paths"]


def test_every_operation_is_documented_and_every_family_answer_has_an_example():
    """What /docs and /redoc show a new user: a description per operation, an example per family's answer."""
    schema = create_app(lambda: None).openapi()  # the models are never loaded: the schema needs none
    operations = {f"{method.upper()} {path}": spec for path, methods in schema["paths"].items()
                  for method, spec in methods.items()}
    assert {"GET /post/recommendations/", "POST /topics", "POST /clusters/assign", "POST /audience",
            "GET /cross-sell/{client_id}", "GET /health", "GET /version", "POST /admin/reload"} <= set(operations)
    undocumented = [name for name, spec in operations.items() if len(spec.get("description", "")) < 30]
    assert not undocumented
    answers = ("FeedResponse", "TopicsResponse", "ClusterResponse", "AudienceResponse", "CrossSellResponse")
    components = schema["components"]["schemas"]
    assert all(components[name].get("examples") for name in answers)
    assert components["FeedResponse"]["properties"]["cold_start"]["description"].startswith("true when")
