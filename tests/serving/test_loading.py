"""Where served models come from when the registry cannot answer: the exports, even half-swapped ones."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest

from socialml.hooks import FramePredictor
from socialml.registry import export_served_model
from socialml.serving.loading import ModelStore


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
