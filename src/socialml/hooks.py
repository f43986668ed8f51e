"""Project hooks: durable runs, and reports and models in MLflow."""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from mlflow.entities import RunStatus

from socialml.airflow_tasks import FINISH_LATER
from socialml.components.core.durable import make_writes_atomic, process_alive, remove_abandoned_partials
from socialml.components.core.errors import DataStop, SettingsError
from socialml.components.data.ingest import EmptySourceError
from socialml.components.evaluation.tables import leaders
from socialml.registry import (
    export_served_model,
    exported_models_folder,
    held_out_set,
    project_code,
    project_requirements,
    register_and_gate,
    registry_gates,
    served_models,
)

logger = logging.getLogger(__name__)
LEADERS_HEADING = "95 % bootstrap intervals; gains are paired, over the table's baseline"
PID_TAG, HOST_TAG = "socialml.pid", "socialml.host"
UNTAGGED_AFTER_S = 600  # a run killed before it was tagged is closed once it is this old


class DurableRunHook:
    """A run killed at any moment leaves nothing that loads as if it were whole.

    Every local file a dataset writes is written aside and moved into place; what killed runs
    half-wrote is cleared at the next run; an empty raw file stops the run by name. (Models that
    are served together come from the Model Registry, which a run updates only when it finishes.)
    """

    def __init__(self) -> None:
        self._catalog: Any = None
        self._project_path = Path.cwd()

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._project_path = Path(context.project_path)

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        self._catalog = catalog

    @hook_impl
    def before_pipeline_run(self) -> None:
        # Only runs pay for the walk over data/ (not serving, viz or registry commands).
        removed = remove_abandoned_partials(self._project_path / "data")
        if removed:
            logger.info("removed %d half-written file(s) left by killed runs", len(removed))

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str) -> None:
        dataset = self._dataset(dataset_name)
        path = getattr(dataset, "_filepath", None)
        if path is None or getattr(dataset, "_version", None) is not None:
            return
        local = Path(str(path))
        if local.is_file() and local.stat().st_size == 0:
            raise EmptySourceError(f"{dataset_name}: the file {local} is empty (zero bytes: no header and no rows)")

    @hook_impl
    def before_dataset_saved(self, dataset_name: str) -> None:
        make_writes_atomic(self._dataset(dataset_name))

    def _dataset(self, name: str) -> Any:
        return self._catalog.get(name) if self._catalog is not None else None


class RunInputsHook:
    """A run that needs what another step makes stops before it starts, naming each missing input and the
    step that makes it: a registered pipeline, or what a dataset's ``metadata.socialml.made_by`` says
    (the served feed log). A raw file that is not there stops it too, with every other one missing and the
    sources that could run without them: not an hour later, when the first node that reads it starts."""

    @hook_impl
    def before_pipeline_run(self, pipeline: Any, catalog: Any) -> None:
        from kedro.framework.project import pipelines

        outputs = {name: made.all_outputs() for name, made in pipelines.items() if name != "__default__"}
        missing, absent_files = [], {}
        for name in sorted(pipeline.inputs()):
            made_by = self._made_by(name, catalog, outputs)
            if made_by is not None and not catalog.exists(name):
                missing.append(f"{name} (made by {made_by})")
            elif made_by is None and (path := self._absent_file(name, catalog)) is not None:
                absent_files[name] = path
        if missing:
            raise MissingRunInputError("this run needs what has not been made yet: " + "; ".join(missing))
        if absent_files:
            raise MissingRunInputError(self._absent_files_message(pipeline, absent_files))

    @staticmethod
    def _absent_file(name: str, catalog: Any) -> str | None:
        """The path of a file dataset whose file is not there. Asked of its file system, not of ``exists()``,
        which some datasets (a query read from a .sql file) do not implement; a database table has no file."""
        if _is_parameter(name):
            return None
        dataset = catalog.get(name)
        path, files = getattr(dataset, "_filepath", None), getattr(dataset, "_fs", None)
        return None if path is None or files is None or files.exists(str(path)) else str(path)

    @staticmethod
    def _absent_files_message(pipeline: Any, absent_files: dict[str, str]) -> str:
        files = "; ".join(f"{name} ({path})" for name, path in absent_files.items())
        sources = {node.namespace.split(".")[0] for node in pipeline.nodes if node.namespace}
        lacking = {name.split(".")[0] for name in absent_files if "." in name}
        others = sorted(sources - lacking)
        rest = (f", or run the sources that have theirs: --namespaces {','.join(others)}" if others and lacking
                else "")
        return (f"these raw files are not there: {files}. Put them there (or give --params data_root=<folder> "
                f"where the environment reads it){rest}")

    @staticmethod
    def _made_by(name: str, catalog: Any, outputs: dict[str, set[str]]) -> str | None:
        if _is_parameter(name):
            return None
        metadata = getattr(catalog.get(name), "metadata", None) or {}
        if "made_by" in metadata.get("socialml", {}):
            return metadata["socialml"]["made_by"]
        makers = sorted(p for p, made in outputs.items() if name in made)
        return f"`kedro run --pipelines {makers[0]}`" if makers else None


class MissingRunInputError(RuntimeError):
    pass


def _is_parameter(name: str) -> bool:
    return name.startswith("params:") or name == "parameters"


# Stops whose message says what is wrong and what to do: Kedro's 50-line traceback above it adds nothing.
STOPS = (MissingRunInputError, DataStop, SettingsError)
# Where Kedro refuses a selection that matches nothing (--pipelines, --namespaces, --nodes, --tags): its message
# says what is wrong, and its traceback says nothing more.
KEDRO_SELECTION = ("kedro/framework/session/session.py", "kedro/pipeline/pipeline.py")
TRACEBACK_SWITCH = "SOCIALML_TRACEBACK"  # set to 1: stops print their traceback too


def find_environment_scripts() -> None:
    """Put the running interpreter's scripts folder (``.venv/bin``) first on PATH, as activating the environment
    would. README command 1 runs ``.venv/bin/kedro`` without activating it; ``kedro mlflow ui`` then starts
    ``mlflow`` by name (kedro-mlflow), which is found only there, and stopped with FileNotFoundError."""
    scripts = str(Path(sys.executable).parent)
    searched = os.environ.get("PATH", "").split(os.pathsep)
    if scripts not in searched:
        os.environ["PATH"] = os.pathsep.join([scripts, *filter(None, searched)])


def show_stops_without_traceback() -> None:
    """A command ended by one of ``STOPS`` prints its message alone (exit status 1); any other error keeps
    its traceback. ``SOCIALML_TRACEBACK=1`` in the environment prints a stop's traceback above its line too
    (the selection stops are told apart by where they were raised: a Kedro bug raised there would lose its).
    Either way an MLflow run still open ends as FAILED: a stop before the first node (a missing input) comes
    before kedro-mlflow's error hook, and MLflow's exit handler would call it FINISHED."""
    shown = sys.excepthook

    def excepthook(kind, error, traceback) -> None:
        if mlflow.active_run() is not None:
            mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
        if issubclass(kind, STOPS):
            line = f"stopped: {error}"
        elif issubclass(kind, ValueError) and _raised_in(traceback, KEDRO_SELECTION):
            known = f"; the namespaces are {_namespaces()}" if "namespaces" in str(error) else ""
            line = f"stopped: {error}{known}"
        else:
            shown(kind, error, traceback)
            return
        if os.environ.get(TRACEBACK_SWITCH, "") not in ("", "0"):
            shown(kind, error, traceback)
        print(line, file=sys.stderr)

    sys.excepthook = excepthook


def _raised_in(traceback: Any, files: tuple[str, ...]) -> bool:
    """Whether the innermost frame of ``traceback`` is in one of ``files`` (paths' ends)."""
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    return traceback is not None and Path(traceback.tb_frame.f_code.co_filename).as_posix().endswith(files)


def _namespaces() -> list[str]:
    """The top-level namespaces of the project's default pipeline, as ``--namespaces`` takes them."""
    from kedro.framework.project import pipelines

    return sorted({node.namespace.split(".")[0] for node in pipelines["__default__"].nodes if node.namespace})


class MlflowRunLabelsHook:
    """Each MLflow run is named ``<env>:<pipelines>`` and tagged with the environment, the git commit
    and the data root it read, so runs can be told apart and traced back to code and data."""

    def __init__(self) -> None:
        self.data_root = "data"

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        runtime = context.config_loader.runtime_params or {}
        self.data_root = str(runtime.get("data_root") or context.config_loader["globals"].get("data_root") or "data")

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        if mlflow.active_run() is None:
            return
        env = run_params.get("env") or "base"
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
        mlflow.set_tags({"mlflow.runName": f"{env}:{','.join(names)}", "socialml.env": env,
                         "socialml.git_commit": _git_commit(), "socialml.data_root": self.data_root})


# MLflow 3's UI opens on its GenAI pages (traces, prompts) unless told otherwise; these runs train models.
MODEL_TRAINING_VIEW = "?workflowType=machine_learning"


class RunSummaryHook:
    """Ends each run with what a user looks for next: wall time, the longest nodes, which model leads each
    comparison (with its interval and its gain over the baseline), the MLflow run and where to open it, the
    comparison tables written, how many rows each ingested table rejected and how many a layout's sample left
    out (dataset loads and saves are at DEBUG, conf/logging.yml, so this is where the run's outputs are named).
    The MLflow run gets the same summary as its description, unless it has one already or the run is an Airflow
    DAG's (its tasks are separate processes; none sees the whole run). Each node is logged by its full name as
    it starts, and its wall time goes to the MLflow run (metrics ``node_seconds.<node>``): a model's fit time is
    that of its node tagged ``training``."""

    LONGEST_NODES = 5

    def __init__(self) -> None:
        self._catalog: Any = None
        self.started = time.perf_counter()
        self.mlflow_ui = "kedro mlflow ui"
        self.comparisons: list[str] = []
        self.rejected: dict[str, int] = {}
        self.sampled_out: dict[str, str] = {}
        self.leading_models: list[str] = []
        self._node_started: dict[str, float] = {}
        self.node_seconds: dict[str, float] = {}

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        self._catalog = catalog

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        self.started = time.perf_counter()
        env = run_params.get("env")
        # The UI must open the run's own store: each environment may keep its own (mlflow_real.db, ...).
        self.mlflow_ui = "kedro mlflow ui" + (f" --env {env}" if env and env != "base" else "")
        self.comparisons.clear()
        self.rejected.clear()
        self.sampled_out.clear()
        self.leading_models.clear()
        self._node_started.clear()
        self.node_seconds.clear()

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        # Kedro's own line spells out every input and output (200 to 400 characters); log_filters drops it.
        logger.info("Running node: %s", node.name)
        self._node_started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        self.node_seconds[node.name] = time.perf_counter() - self._node_started.pop(node.name)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        leading = leaders(data) if isinstance(data, pd.DataFrame) else []
        self.leading_models += [f"{dataset_name}{f' ({group})' if group else ''}: {text}" for group, text in leading]
        short_name = dataset_name.rsplit(".", 1)[-1]
        if leading or short_name.endswith("_comparison"):  # rpt_sentiment_quality is one too
            self.comparisons.append(str(getattr(self._catalog.get(dataset_name), "_filepath", dataset_name)))
        elif short_name.startswith("prm_rejected_") and hasattr(data, "__len__"):
            self.rejected[dataset_name.replace(".prm_rejected_", ".")] = len(data)
        elif short_name.startswith("counts_") and isinstance(data, dict) and data.get("sampled_out"):
            self.sampled_out[dataset_name.replace(".counts_", ".")] = f"{data['sampled_out']} of {data['accepted']}"

    @hook_impl
    def after_pipeline_run(self) -> None:
        finished = f"run finished in {time.perf_counter() - self.started:.0f} s"
        lines = [finished]
        longest = sorted(self.node_seconds.items(), key=lambda item: -item[1])[:self.LONGEST_NODES]
        if longest:
            lines.append("longest nodes: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in longest))
        if self.leading_models:
            lines.append(f"leading models ({LEADERS_HEADING}):"
                         + "".join(f"\n    {leader}" for leader in self.leading_models))
        rejected = ", ".join(f"{table} {count}" for table, count in sorted(self.rejected.items()))
        sampled_out = ", ".join(f"{table} {count}" for table, count in sorted(self.sampled_out.items()))
        run = mlflow.active_run()
        if run is not None:
            mlflow.log_metrics({node_seconds_metric(name): seconds for name, seconds in self.node_seconds.items()})
            described = "mlflow.note.content" in mlflow.get_run(run.info.run_id).data.tags
            if not described and not os.environ.get(FINISH_LATER):
                mlflow.set_tag("mlflow.note.content", self._description(finished, rejected, sampled_out))
            lines.append(f"MLflow run {run.info.run_id} (experiment {run.info.experiment_id}) in "
                         f"{mlflow.get_tracking_uri()}: `{self.mlflow_ui}`, then http://127.0.0.1:5000/#/experiments/"
                         f"{run.info.experiment_id}/runs/{run.info.run_id}{MODEL_TRAINING_VIEW}")
        if self.comparisons:
            lines.append("comparison tables (newest version inside each): " + ", ".join(sorted(self.comparisons)))
        if rejected:
            lines.append("rows rejected at ingestion: " + rejected)
        if sampled_out:
            lines.append("accepted rows left out by a layout's sample: " + sampled_out)
        logger.info("\n  ".join(lines))

    def _description(self, finished: str, rejected: str, sampled_out: str) -> str:
        """The run's summary as Markdown for the MLflow run page: wall time, leading models, rejected and
        sampled-out rows."""
        text = f"**{finished.capitalize()}.**"
        if self.leading_models:
            text += (f"\n\n**Leading models** ({LEADERS_HEADING}; the whole tables are among the artifacts):\n\n"
                     + "\n".join(f"- {leader}" for leader in self.leading_models))
        if rejected:
            text += f"\n\n**Rows rejected at ingestion:** {rejected}."
        if sampled_out:
            text += f"\n\n**Accepted rows left out by a layout's sample:** {sampled_out}."
        return text


def unserved_note(family: str, served: str, logged: list[str]) -> str | None:
    """What to say where a run trained a family's models but not the one ``serving`` names (a new source's,
    while serving still names the demo's): nothing is registered, and a user would look for it in vain."""
    kind = served.rsplit(".", 1)[-1]
    trained = sorted(name for name in logged if name.endswith("." + kind))
    if not trained:
        return None
    return (f"model registry: nothing registered for {family}: serving names {served}, which this run did not "
            f"train; it trained {', '.join(trained)} (set serving.{family} to register one)")


def node_seconds_metric(node_name: str) -> str:
    """The MLflow metric of a node's wall time (Kedro's node names hold only characters MLflow accepts; MLflow
    takes 250 of them)."""
    return ("node_seconds." + node_name)[:250]


def _git_commit() -> str:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


class MlflowRunStatusHook:
    """No MLflow run stays RUNNING after its process is gone.

    A run stopped by SIGTERM, SIGINT or SIGHUP ends as KILLED (MLflow's exit handler would call
    it FINISHED); a run that could not say so (SIGKILL, a power cut) is found at the start of the
    next run on the same host, by the process id it was tagged with, and closed as KILLED, as is
    an untagged RUNNING run older than ``UNTAGGED_AFTER_S``.
    """

    @hook_impl
    def before_pipeline_run(self) -> None:
        run = mlflow.active_run()
        if run is None:
            return
        mlflow.set_tags({PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()})
        close_orphaned_runs(run.info.experiment_id, keep=run.info.run_id)
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(number, _end_run_killed)


def _end_run_killed(number: int, frame: Any) -> None:
    run = mlflow.active_run()
    if run is not None:
        mlflow.MlflowClient().set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
    logger.error("stopped by signal %d: MLflow run %s ended as KILLED", number, run.info.run_id if run else None)
    logging.shutdown()
    # Exit now: unwinding would let MLflow's exit handler and the node threads mark the run FINISHED.
    os._exit(128 + number)


def close_orphaned_runs(experiment_id: str, keep: str | None = None) -> list[str]:
    """Close as KILLED the RUNNING runs of this host whose process is gone; returns their ids."""
    client = mlflow.MlflowClient()
    host = socket.gethostname()
    closed = []
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'"):
        tags = run.data.tags
        if PID_TAG not in tags:
            orphaned = time.time() * 1000 - run.info.start_time > UNTAGGED_AFTER_S * 1000
        else:
            orphaned = tags.get(HOST_TAG) == host and not process_alive(int(tags[PID_TAG]))
        if run.info.run_id == keep or not orphaned:
            continue
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
        closed.append(run.info.run_id)
    if closed:
        logger.warning("closed %d MLflow run(s) left RUNNING by killed processes: %s", len(closed), closed)
    return closed


class FramePredictor(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc face of any project model with ``predict_frame(DataFrame) -> DataFrame``."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.model.predict_frame(model_input)


MODEL_STEP = 1_000_000  # models are run outputs at this step, which no metric uses (see MlflowArtifactsHook)
DATASET_TAG = "socialml.dataset"  # on each logged model: the catalog dataset it was saved as


class MlflowArtifactsHook:
    """What a run saves as a report (``rpt_*``) or a model (``mdl_*``) is attached to its MLflow run.

    Reports go in as CSV, JSON or HTML; models as MLflow pyfunc models over their ``predict_frame``
    (with the project's code and requirements, an input example and the signature inferred from it;
    a model without one is attached as a pickle, with a warning). MLflow links a metric to every model logged in the run at the metric's step;
    models are logged at ``MODEL_STEP`` so that none takes the run's metrics, and when the run ends
    each model gets its own: the metrics under its namespace (``demo.topics.tfidf_logreg.mdl_...`` →
    ``demo/topics/tfidf_logreg/*``), or under the prefix its catalog entry names in
    ``metadata: {socialml: {metrics: ...}}`` (a model at a source's top level shares its namespace
    with every other model of the source). The run's models are found in MLflow by the dataset tag
    they were logged with, so the run's end (:meth:`finish_run`) can also be a process of its own:
    the last task of an Airflow DAG run whose tasks all logged into one MLflow run (``airflow_tasks``).
    """

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self._catalog: Any = None
        self._project_path = Path.cwd()

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        self._catalog = catalog

    def _metric_namespace(self, dataset_name: str) -> str:
        """The prefix of a model's own metrics: ``demo.topics.tfidf_logreg.mdl_topic_classifier`` →
        ``demo/topics/tfidf_logreg/``, unless its catalog entry's metadata names another."""
        metadata = getattr(self._catalog.get(dataset_name), "metadata", None) if self._catalog is not None else None
        named = ((metadata or {}).get("socialml") or {}).get("metrics")
        return named or dataset_name.rsplit(".", 1)[0].replace(".", "/") + "/"

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self.params, self._project_path = context.params, Path(context.project_path)
        registry_gates(self.params)  # a misspelt gate option stops here, not after the run has trained

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        short_name = dataset_name.rsplit(".", 1)[-1]
        if mlflow.active_run() is None or not short_name.startswith(("rpt_", "mdl_")):
            return
        path = dataset_name.replace(".", "/")
        if short_name.startswith("mdl_"):
            if type(self._catalog.get(dataset_name)).__module__.startswith("kedro_mlflow"):
                return  # kedro-mlflow's own datasets log themselves (a pipeline_ml_factory model's artifact)
            self._log_model(dataset_name, data)
        elif isinstance(data, pd.DataFrame):
            mlflow.log_text(data.to_csv(index=False), f"{path}.csv")
        elif isinstance(data, dict) and not short_name.endswith("_metrics"):
            mlflow.log_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), f"{path}.json")
        elif hasattr(data, "to_html"):  # plotly figures: interactive, and a picture MLflow shows inline
            mlflow.log_text(data.to_html(include_plotlyjs=True), f"{path}.html")  # renders offline
            try:
                mlflow.log_figure(data, f"{path}.png")  # drawn by kaleido's own headless Chromium
            except (ValueError, RuntimeError) as error:
                logger.warning("%s: no PNG in MLflow (%s); its HTML is there", dataset_name, error)

    @hook_impl
    def after_pipeline_run(self) -> None:
        run = mlflow.active_run()
        if run is not None and not os.environ.get(FINISH_LATER):  # set in an Airflow node task: the DAG's
            self.finish_run(run.info.run_id)                       # last task finishes the run instead

    def finish_run(self, run_id: str) -> None:
        """Give each model the run logged its own metrics, then register and gate the served ones."""
        logged = self._logged_models(run_id)
        if not logged:
            return
        client = mlflow.MlflowClient()
        metrics = client.get_run(run_id).data.metrics
        namespaces = {name: self._metric_namespace(name) for name in logged}
        # Scores only: a curve (one point per epoch) would gain a point if it were logged again.
        scores = {key: value for key, value in metrics.items() if any(key.startswith(n) for n in namespaces.values())
                  and all(point.step == 0 for point in client.get_metric_history(run_id, key))}
        for dataset_name, model_id in logged.items():
            own = {key: value for key, value in scores.items() if key.startswith(namespaces[dataset_name])}
            if own:
                mlflow.log_metrics(own, model_id=model_id)
        self._register_served_models(logged, metrics, run_id)

    @staticmethod
    def _logged_models(run_id: str) -> dict[str, str]:
        """Dataset name → id of the MLflow model the run logged for it (the newest, if a retried task logged
        it twice), whichever process logged it."""
        experiment = mlflow.MlflowClient().get_run(run_id).info.experiment_id
        models = mlflow.search_logged_models(experiment_ids=[experiment], filter_string=f"source_run_id = '{run_id}'",
                                             output_format="list")
        newest_last = sorted(models, key=lambda model: model.creation_timestamp)
        return {model.tags[DATASET_TAG]: model.model_id for model in newest_last if DATASET_TAG in model.tags}

    def _register_served_models(self, logged: dict[str, str], metrics: dict[str, float], run_id: str) -> None:
        """Register each served model this run logged, let the gate decide on its alias, and export the
        version holding the alias (``serving.exported_models``) for a service that cannot reach the registry."""
        gates = registry_gates(self.params)
        exported = exported_models_folder(self._project_path, self.params)
        for family, aliases in served_models(self.params).items():
            gate = gates.get(family)
            for alias, dataset_name in aliases.items():
                if gate is None:
                    continue
                if dataset_name not in logged:
                    if note := unserved_note(family, dataset_name, list(logged)):
                        logger.info(note)
                    continue
                source = dataset_name.split(".", 1)[0]
                score_key = self._metric_namespace(dataset_name) + gate.metric
                if score_key not in metrics:  # expected where the gate serves the newer unscored version
                    logger.log(logging.INFO if gate.unscored == "newer" else logging.WARNING,
                               "model registry: %s has no held-out score in this run (%s)", dataset_name, score_key)
                decision = register_and_gate(
                    logged[dataset_name], gate.name, alias, gate.metric, metrics.get(score_key), gate.min_gain,
                    held_out_set(gate, source, self.params),
                    {"socialml.source": source, "socialml.dataset": dataset_name, "socialml.run_id": run_id},
                    gate.unscored)
                outcome = "promoted" if decision.promoted else f"version {decision.previous_version} kept"
                mlflow.set_tag(f"socialml.gate.{gate.name}.{alias}",
                               f"version {decision.version}: {outcome} ({decision.reason})")
                export_served_model(gate.name, alias, exported)

    @staticmethod
    def _log_model(dataset_name: str, model: Any) -> None:
        """A pyfunc model tagged with its dataset's name (how the run's end finds it); a pickle otherwise."""
        path = dataset_name.replace(".", "/")
        if hasattr(model, "predict_frame"):
            example = model.example_frame() if hasattr(model, "example_frame") else None
            mlflow.pyfunc.log_model(name=path.replace("/", "-"), python_model=FramePredictor(model),
                                    code_paths=project_code(), pip_requirements=project_requirements(),
                                    input_example=example, step=MODEL_STEP, tags={DATASET_TAG: dataset_name})
            return
        logger.warning("%s has no predict_frame: attached as a pickle, not as an MLflow model", path)
        with tempfile.TemporaryDirectory() as folder:
            file = Path(folder) / f"{path.rsplit('/', 1)[-1]}.pkl"
            file.write_bytes(pickle.dumps(model))
            mlflow.log_artifact(str(file), str(Path("models") / Path(path).parent))
