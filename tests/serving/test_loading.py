"""Where served models come from (the registry, else the exports, even half-swapped ones), and what the app shows with them."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset

from socialml.components.text.clustering import AnswerClusterer
from socialml.hooks import FramePredictor
from socialml.registry import export_served_model
from socialml.serving.families import clusters
from socialml.serving.loading import LoadContext, ModelStore, TextEncoders


class Doubler:
    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame * 2


@pytest.fixture()
def registered(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("exports")
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=FramePredictor(Doubler()),
                                       input_example=pd.DataFrame({"x": [1]}))
    client = mlflow.MlflowClient()
    client.create_registered_model("socialml-doubler")
    version = client.create_model_version("socialml-doubler", f"models:/{info.model_id}", model_id=info.model_id)
    client.set_registered_model_alias("socialml-doubler", "champion", version.version)
    return tmp_path


def test_an_export_killed_mid_swap_still_serves_and_a_second_export_of_the_same_version_is_skipped(registered):
    folder = registered / "served"
    target = export_served_model("socialml-doubler", "champion", folder)
    written = (target / "registered.json").stat().st_mtime_ns
    assert export_served_model("socialml-doubler", "champion", folder) == target
    assert (target / "registered.json").stat().st_mtime_ns == written  # the same version is not copied again
    # Killed between moving the old export aside and moving the new one in; a staging folder left behind.
    target.rename(target.with_name(".champion.previous"))
    (folder / "socialml-doubler" / ".champion.abc123").mkdir()
    mlflow.set_registry_uri(f"sqlite:///{registered / 'empty.db'}")  # a registry that knows no such model
    model, served = ModelStore(folder).load("doubler", "socialml-doubler", "champion")
    assert served.origin == "exported" and served.version == "1"
    assert model.predict_frame(pd.DataFrame({"x": [21]}))["x"].tolist() == [42]
    mlflow.set_registry_uri(f"sqlite:///{registered / 'mlflow.db'}")
    export_served_model("socialml-doubler", "champion", folder)  # the next run's export recovers
    assert json.loads((target / "registered.json").read_text())["version"] == "1"
    assert sorted(p.name for p in (folder / "socialml-doubler").iterdir()) == ["champion"]


def test_without_registry_or_export_the_error_names_the_model_and_the_folder(tmp_path):
    mlflow.set_registry_uri(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(LookupError, match=r"socialml-doubler@champion: the registry has no such model .* no "
                                          r"export of it is in .*socialml-doubler/champion"):
        ModelStore(tmp_path / "served").load("doubler", "socialml-doubler", "champion")


def _registered_clusterer(tables: bool) -> None:
    cluster_table = pd.DataFrame({"question_id": [1], "question_text": ["Как дела?"], "cluster": [0],
                                  "label": ["served model's cluster"]})
    answer_table = pd.DataFrame({"question_id": [1], "answer_text": ["хорошо"], "cluster": [0]})
    clusterer = AnswerClusterer({1: {"labels": {0: "served model's cluster"}}}, None, None, None,
                                clusters=cluster_table if tables else None,
                                answer_clusters=answer_table if tables else None)
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=FramePredictor(clusterer))
    client = mlflow.MlflowClient()
    if not client.search_registered_models("name = 'socialml-clusters'"):
        client.create_registered_model("socialml-clusters")
    version = client.create_model_version("socialml-clusters", f"models:/{info.model_id}", model_id=info.model_id)
    client.set_registered_model_alias("socialml-clusters", "champion", version.version)


def test_the_cluster_family_shows_the_served_clusterers_own_clusters_not_the_latest_runs(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("clusters")
    # The latest run's tables, of a clusterer the registry's gate did not promote.
    catalog = DataCatalog({"demo.mo_clusters": MemoryDataset(pd.DataFrame({"question_id": [1], "cluster": [0],
                                                                           "label": ["latest run's cluster"]})),
                           "demo.mo_answer_clusters": MemoryDataset(pd.DataFrame({"question_id": [1], "cluster": [0]}))})
    params = {"model_registry": {"clusters": {"name": "socialml-clusters"}}, "serving": {"clusters": {"source": "demo"}}}
    _registered_clusterer(tables=True)
    family = clusters.load(LoadContext(catalog, params, ModelStore(tmp_path / "served"), TextEncoders()))
    assert family.clusters["label"].tolist() == ["served model's cluster"]
    assert family.answer_clusters["answer_text"].tolist() == ["хорошо"]
    _registered_clusterer(tables=False)  # a clusterer saved before clusterers kept their tables
    family = clusters.load(LoadContext(catalog, params, ModelStore(tmp_path / "served"), TextEncoders()))
    assert family.clusters["label"].tolist() == ["latest run's cluster"]
