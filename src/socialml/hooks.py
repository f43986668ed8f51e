"""Project hooks: environment-aware pipeline registration and report artifacts in MLflow."""

from __future__ import annotations

import json
from typing import Any

import mlflow
import pandas as pd
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines

from socialml import pipeline_registry


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


class ReportArtifactsHook:
    """Every report (``rpt_*`` dataset) a run saves is also attached to its MLflow run."""

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        short_name = dataset_name.rsplit(".", 1)[-1]
        if not short_name.startswith("rpt_") or mlflow.active_run() is None:
            return
        artifact = dataset_name.replace(".", "/")
        if isinstance(data, pd.DataFrame):
            mlflow.log_text(data.to_csv(index=False), f"{artifact}.csv")
        elif isinstance(data, dict) and not short_name.endswith("_metrics"):
            mlflow.log_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), f"{artifact}.json")
