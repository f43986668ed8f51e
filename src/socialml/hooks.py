"""Project hooks: environment-aware pipeline registration, and reports and models in MLflow."""

from __future__ import annotations

import json
import logging
import pickle
import tempfile
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines

from socialml import pipeline_registry

logger = logging.getLogger(__name__)


class ActiveEnvironmentHook:
    """The set of sources (and so of namespaced pipelines) depends on the run's environment.

    Kedro builds the pipeline registry lazily, after the context exists; this hook hands the
    environment's parameters to the registry and asks Kedro to rebuild it. (``context.params``
    would itself load the pipelines, to validate typed parameters, so the raw config is read.)
    """

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        pipeline_registry.use_parameters(context.config_loader["parameters"])
        pipelines.configure(pipeline_registry.__name__)


class FramePredictor(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc face of any project model with ``predict_frame(DataFrame) -> DataFrame``."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.model.predict_frame(model_input)


def _requirements() -> list[str]:
    try:
        return [r for r in requires("socialml") or [] if "extra ==" not in r]
    except PackageNotFoundError:
        return []


class MlflowArtifactsHook:
    """What a run saves as a report (``rpt_*``) or a model (``mdl_*``) is attached to its MLflow run.

    Reports go in as CSV, JSON or HTML; models with ``predict_frame`` as MLflow pyfunc models (with
    the project's code and requirements), other models as pickles.
    """

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        short_name = dataset_name.rsplit(".", 1)[-1]
        if mlflow.active_run() is None or not short_name.startswith(("rpt_", "mdl_")):
            return
        path = dataset_name.replace(".", "/")
        if short_name.startswith("mdl_"):
            self._log_model(path, data)
        elif isinstance(data, pd.DataFrame):
            mlflow.log_text(data.to_csv(index=False), f"{path}.csv")
        elif isinstance(data, dict) and not short_name.endswith("_metrics"):
            mlflow.log_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), f"{path}.json")
        elif hasattr(data, "to_html"):  # plotly figures
            mlflow.log_text(data.to_html(include_plotlyjs="cdn"), f"{path}.html")

    @staticmethod
    def _log_model(path: str, model: Any) -> None:
        if hasattr(model, "predict_frame"):
            mlflow.pyfunc.log_model(name=path.replace("/", "-"), python_model=FramePredictor(model),
                                    code_paths=[str(Path(__file__).parent)], pip_requirements=_requirements())
            return
        with tempfile.TemporaryDirectory() as folder:
            file = Path(folder) / f"{path.rsplit('/', 1)[-1]}.pkl"
            file.write_bytes(pickle.dumps(model))
            mlflow.log_artifact(str(file), str(Path("models") / Path(path).parent))
