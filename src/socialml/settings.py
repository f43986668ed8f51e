"""Project settings. https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from socialml.log_filters import silence_known_messages

silence_known_messages()  # before the hooks import MLflow

from socialml.hooks import (
    DurableRunHook, MlflowArtifactsHook, MlflowRunLabelsHook, MlflowRunStatusHook, RunInputsHook, RunSummaryHook,
    find_environment_scripts, show_stops_without_traceback,
)
from socialml.pipeline_registry import ProjectConfigLoader

show_stops_without_traceback()
find_environment_scripts()

# Hooks run last-registered first: the summary is registered first so that it ends the run's log.
HOOKS = (RunSummaryHook(), DurableRunHook(), RunInputsHook(), MlflowRunStatusHook(), MlflowRunLabelsHook(),
         MlflowArtifactsHook())

# Kedro's OmegaConfigLoader, which also points the pipeline registry at the session's environment.
CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "mlflow": ["mlflow*", "mlflow*/**"],
    },
}
