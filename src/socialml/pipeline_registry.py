"""Project pipelines, built from the ``sources`` configured for the active environment.

Each source (``sources`` in parameters_ingestion.yml) gets a namespaced instance of every family
whose ``create_pipeline(source, params)`` applies to it (a family returns an empty pipeline
otherwise), so kedro viz shows one block per source, with a block per family inside. The
parameters are those of the environment Kedro's session is using: :class:`ProjectConfigLoader`
(the project's config loader class) hands them over when Kedro creates it, for `kedro run`,
`kedro viz run` and `kedro registry` alike, hooks or not.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from kedro.framework.project import pipelines, settings
from kedro.pipeline import Pipeline
from omegaconf import OmegaConf

from socialml.components.core.errors import SettingsError
from socialml.pipelines import (
    audience,
    clustering,
    cross_sell,
    evaluation,
    feature_enrichment,
    ingestion,
    post_feed,
    sentiment,
    text_embedding,
    topics,
)

# The families of the default run, in lineage order; each is also a pipeline of its own name.
FAMILIES = {
    "ingestion": ingestion.create_pipeline,
    "feature_enrichment": feature_enrichment.create_pipeline,
    "text_embedding": text_embedding.create_pipeline,
    "sentiment": sentiment.create_pipeline,
    "clustering": clustering.create_pipeline,
    "topics": topics.create_pipeline,
    "audience": audience.create_pipeline,
    "post_feed": post_feed.create_pipeline,
    "cross_sell": cross_sell.create_pipeline,
    "evaluation": evaluation.create_pipeline,
}


class ProjectConfigLoader(OmegaConfigLoader):
    """Kedro's OmegaConfigLoader that makes the pipeline registry follow its environment.

    Kedro creates one per session, with the session's environment, before it asks for pipelines;
    the registry is rebuilt from this loader's parameters on its next use. It also anchors the
    relative SQLite stores of ``mlflow.yml`` at the project, so that a session opened elsewhere (a
    ``kedro jupyter`` kernel runs in ``notebooks/``) uses the project's store, not a new empty one.
    """

    active: ProjectConfigLoader | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._require_environment()
        ProjectConfigLoader.active = self
        pipelines.configure(__name__)

    def _require_environment(self) -> None:
        """A misspelt ``--env`` stops here, naming the environments: without this check the run ended in an
        MLflow traceback about its file store, which says nothing of the environment."""
        conf = Path(self.conf_source)
        if self.env and conf.is_dir() and not (conf / self.env).is_dir():
            environments = sorted(path.name for path in conf.iterdir() if path.is_dir() and path.name != self.base_env)
            raise SettingsError(f"there is no environment {self.env!r}: {conf.name}/ has {environments}")

    def __getitem__(self, key: str) -> Any:
        if key == "parameters" and self.runtime_params and key not in self:
            return self._parameters_with_runtime_on_top()
        config = super().__getitem__(key)
        if key == "mlflow":
            server = config.get("server", {})
            project_path = Path(self.conf_source).resolve().parent
            for name in ("mlflow_tracking_uri", "mlflow_registry_uri"):
                if server.get(name):
                    server[name] = project_relative(server[name], project_path)
        return config

    def _parameters_with_runtime_on_top(self) -> dict[str, Any]:
        """The environments' parameters merged as Kedro merges them, then ``--params`` merged into them key by key.

        Kedro merges the runtime parameters into base's and the environment's parameters apart, before the
        environment's top-level keys replace base's: ``--env test --params ingestion.checks.min_accepted_rows=5``
        gave the test environment an ``ingestion`` block of that one key, which replaced base's layouts.
        """
        runtime = self.runtime_params
        self._runtime_params_oc = OmegaConf.create(runtime)  # `${runtime_params:...}` in the files still resolves
        self.runtime_params = {}
        try:
            config = super().__getitem__("parameters")
        finally:
            self.runtime_params = runtime
        return OmegaConf.to_container(OmegaConf.merge(config, runtime))


def project_relative(uri: str, project_path: Path) -> str:
    """A relative SQLite URI (``sqlite:///mlflow.db``) names the project's file, wherever the process runs."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not Path(uri[len(prefix):]).is_absolute():
        return prefix + str(project_path / uri[len(prefix):])
    return uri


def active_parameters() -> dict[str, Any]:
    """The parameters of the environment in use: the session's loader, else Kedro's default for this folder."""
    loader = ProjectConfigLoader.active
    if loader is None:  # no session yet: the environment Kedro would pick in this folder
        loader = OmegaConfigLoader(conf_source=str(Path.cwd() / settings.CONF_SOURCE),
                                   env=os.environ.get("KEDRO_ENV"), **settings.CONFIG_LOADER_ARGS)
    return loader["parameters"]


def register_pipelines() -> dict[str, Pipeline]:
    params = active_parameters()
    registry = {name: Pipeline([]) for name in FAMILIES}
    for source in params["sources"]:
        for name, create in FAMILIES.items():
            registry[name] += create(source, params)
    registry["__default__"] = sum(registry.values(), Pipeline([]))
    # Not in the default run: compares the A/B groups of the feeds the service logged.
    registry["ab_test"] = post_feed.create_ab_test_pipeline(params)
    # Not in the default run: the served cross-sell model's training and inference as one MLflow model.
    registry["cross_sell_release"] = cross_sell.create_release_pipeline(params)
    # Not in the default run: fills a source's raw storage (a database, say) with the demo platform.
    registry["publish_demo_platform"] = sum((ingestion.create_publish_pipeline(s, params) for s in params["sources"]),
                                            Pipeline([]))
    return registry
