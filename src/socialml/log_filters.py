"""Third-party warnings looked at and found harmless, and third-party chatter, silenced by message for
every Kedro command (settings.py). They live in code, not in conf/logging.yml, because Kedro refuses
logging filter classes outside its own modules unless an environment variable allows them."""

from __future__ import annotations

import logging
import os
import re

KNOWN_WARNINGS = (
    # omegaconf deprecates the resolver API that Kedro and kedro-mlflow call: nothing for us to change.
    r"register_new_resolver\(\) is deprecated",
    # Kedro's namespaced pipelines (`demo.topics.tfidf_logreg`) are what put dots in dataset names.
    r"One or more dataset names contain '\.' characters",
    # MLflow asks for type hints on `predict`; our models' signatures come from their input examples.
    r"Add type hints to the `predict` method",
    # Integer id columns in an input example: ids are never missing (ingestion rejects such rows).
    r"Hint: Inferred schema contains integer column",
    # kedro-viz's own use of a FastAPI class FastAPI deprecates (`kedro viz`): theirs to change.
    r"ORJSONResponse is deprecated",
)

KNOWN_LOG_LINES = {  # logger → messages it logs that say nothing a user acts on
    "mlflow.pyfunc": (r"Passing a Python object as `python_model`",  # our wrappers are pickled by design
                      r"Inferring model signature from input example"),
    "kedro_mlflow.framework.hooks.mlflow_hook": (r"Registering new custom resolver",),
    # kedro viz flattens the cross_sell_release pipeline (a PipelineML) to draw it: as kedro-mlflow intends.
    "kedro_mlflow.pipeline.pipeline_ml": (r"This 'Pipeline' is no longer a 'PipelineML' object",),
    "kedro.validation.parameter_validator": (r"No typed parameter requirements found",),
    # Every input and output of the node, 200 to 400 characters: RunSummaryHook logs its name instead.
    "kedro.pipeline.node": (r"^Running node: ",),
    # "Completed node: X" repeats the "Running node: X" before it; "Completed 12 out of 91 tasks" follows.
    "kedro.runner.sequential_runner": (r"Using synchronous mode for loading and saving data", r"^Completed node: "),
}


class KnownMessages(logging.Filter):
    """Drops a logger's records whose message matches one of ``patterns``."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        super().__init__()
        self.pattern = re.compile("|".join(patterns))

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.search(record.getMessage())


def silence_known_messages() -> None:
    """``KNOWN_WARNINGS`` and ``KNOWN_LOG_LINES`` are not shown; MLflow's artifact download bar is off
    (exporting a served model downloads a hundred small files), and so are Hugging Face's bars: loading
    a local encoder drew a "Loading weights" bar of a fraction of a second each time, eight per demo run.
    Our own bars (embedding, training: ``components.core.progress``) stay. Both switches are environment
    defaults, read when those libraries are imported, so a user's own setting wins.

    Python warnings go through logging (``py.warnings``) and are filtered there: MLflow re-enables its
    own warnings inside its calls (``catch_warnings`` + ``simplefilter("once")``), which would override a
    ``warnings.filterwarnings``. The filters sit on the loggers, so a library that replaces its handlers
    keeps them."""
    logging.captureWarnings(True)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for name, patterns in {"py.warnings": KNOWN_WARNINGS, **KNOWN_LOG_LINES}.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, KnownMessages) for f in logger.filters):
            logger.addFilter(KnownMessages(patterns))
