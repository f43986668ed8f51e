"""The model set a service process (or the Streamlit app) serves: each family's loaded state.

Models come from the Model Registry by alias (``serving.loading``), the answer clusters shown beside
the clusterer with it; the data shown beside them (posts, viewing histories) from the project's Kedro
catalog, in whichever environment the process is started with.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from socialml.components.core.errors import SettingsError
from socialml.registry import exported_models_folder, served_families
from socialml.serving.families import FAMILIES, checked_families
from socialml.serving.loading import LoadContext, ModelStore, ServedModel, TextEncoders

logger = logging.getLogger(__name__)


@dataclass
class ServingModels:
    states: dict[str, Any]  # family → its loaded state (families/<family>.py)
    served: list[ServedModel]
    encoders: TextEncoders

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(self.states)

    def family(self, name: str) -> Any:
        if name not in self.states:
            raise KeyError(f"this process does not serve {name}; it serves {list(self.states)}")
        return self.states[name]

    def warm_up(self) -> None:
        """Build the text encoders now, so the first text request does not pay for loading a transformer."""
        for state in self.states.values():
            if hasattr(state, "warm_up"):
                state.warm_up()


def load_serving_models(project_path: str | Path = ".", env: str | None = None,
                        families: Sequence[str] | None = None, tracking_uri: str | None = None) -> ServingModels:
    """Open a Kedro session on the project and load the ``families``' registered models (by default every
    family the environment serves: ``registry.served_families``).

    The tracking server is the project's (``mlflow.yml``) unless ``tracking_uri`` is given. A process
    that serves the feed alone never imports a text encoder (its tokenizer and weights are most of a
    full service's memory), so families can be scaled in separate processes.
    """
    import mlflow

    project_path = Path(project_path).resolve()
    with project_context(project_path, env) as context:
        families = checked_families(families) if families is not None else environment_families(context.params, env)
        if tracking_uri:  # its registry too, not the one the project's mlflow.yml names
            mlflow.set_tracking_uri(tracking_uri)
            mlflow.set_registry_uri(tracking_uri)
        params = context.params
        load = LoadContext(context.catalog, params,
                           ModelStore(exported_models_folder(project_path, params)),
                           TextEncoders())
        states = {family: FAMILIES[family].load(load) for family in families}
    logger.info("serving %s with %s", ", ".join(families),
                ", ".join(f"{m.name}@{m.alias} v{m.version} ({m.origin})" for m in load.served))
    return ServingModels(states, load.served, load.encoders)


def environment_families(params: dict[str, Any], env: str | None) -> tuple[str, ...]:
    """The families ``env`` serves; a ValueError naming the environment where it serves none."""
    families = tuple(served_families(params))
    if not families:
        raise ValueError(f"environment {env or 'base'!r} serves no model family: `serving` (and post_feed.ab_test) "
                         f"name none of its sources {sorted(params.get('sources') or {})}")
    return families


@contextmanager
def project_context(project_path: str | Path = ".", env: str | None = None) -> Iterator[Any]:
    """The project's Kedro context (catalog and parameters) in ``env``, while a session is open.
    Opening it runs kedro-mlflow's hook, which points MLflow at the project's tracking server."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    project_path = Path(project_path).resolve()
    if not (project_path / "pyproject.toml").is_file():
        raise SettingsError(f"{project_path} is not a Kedro project (it has no pyproject.toml): give the "
                            f"project's folder as --project, or start from it")
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        yield session.load_context()
