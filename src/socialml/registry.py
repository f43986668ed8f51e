"""The Model Registry: every served model is a registered model, and a gate moves its aliases.

Which trained model each family serves is configured once (``serving`` and ``post_feed.ab_test``
parameters, read by :func:`served_models` for both the registry and the service). At the end of a
run, each served model that the run trained and logged as an MLflow model is registered as a new
version of ``model_registry.<family>.name`` (tagged with its source, run, metric and held-out set).
The gate then moves the alias it serves under (``champion``; the feed's ``control`` and ``test``)
to the new version only if its score on the family's held-out metric beats the version holding
the alias by more than ``min_gain``, on the same held-out set (the parameters that define it, and
the source). A source without held-out truth (a survey's answers) gives no score: ``unscored`` says
whether such a version replaces an unscored holder (``newer``) or waits to be moved by hand (``keep``).
The decision and both scores are recorded as tags of the new version and of the run.
The version holding each served alias is then exported to a folder (``serving.exported_models``): what
the service loads when no registry answers.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path
from typing import Any, Literal

import mlflow
from mlflow.exceptions import MlflowException

from socialml.components.core.parts import typed_options

logger = logging.getLogger(__name__)


def served_models(params: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Family → alias → the dataset of the model served under it (``demo.topics.embedding_logreg.mdl_...``)."""
    serving = params.get("serving") or {}
    served: dict[str, dict[str, str]] = {}
    ab_test = (params.get("post_feed") or {}).get("ab_test")
    if ab_test:
        served["feed"] = {group: f"{ab_test['source']}.post_feed.{ab_test[group]}.mdl_post_feed"
                          for group in ("control", "test")}
    if "topics" in serving:
        spec = serving["topics"]
        served["topics"] = {"champion": f"{spec['source']}.topics.{spec['model']}.mdl_topic_classifier"}
    if "clusters" in serving:
        served["clusters"] = {"champion": f"{serving['clusters']['source']}.clustering.mdl_answer_clusterer"}
    if "audience" in serving:
        spec = serving["audience"]
        served["audience"] = {"champion": f"{spec['source']}.audience.{spec['model']}.mdl_audience_model"}
    if "cross_sell" in serving:
        spec = serving["cross_sell"]
        served["cross_sell"] = {"champion": f"{spec['source']}.cross_sell.{spec['model']}.mdl_cross_sell"}
    return served


def served_families(params: dict[str, Any]) -> list[str]:
    """The families an environment serves: those whose served models' sources are among its ``sources`` (an
    environment of a new text source serves its topics, not the demo's feed that base's parameters name)."""
    sources = set(params.get("sources") or {})
    return [family for family, aliases in served_models(params).items()
            if all(dataset.split(".", 1)[0] in sources for dataset in aliases.values())]


def project_requirements() -> list[str]:
    """The project's pip requirements, for the environment of a logged MLflow model."""
    try:
        return [r for r in requires("socialml") or [] if "extra ==" not in r]
    except PackageNotFoundError:
        return []


def project_code() -> list[str]:
    """The project's package, logged with each MLflow model so that it loads where socialml is not installed."""
    return [str(Path(__file__).parent)]


@dataclass(frozen=True)
class Gate:
    """One family's gate (``model_registry.<family>``): the registered model, the held-out metric that
    decides, on which held-out set (parameter paths, ``{source}`` filled in), and what an unscored version
    does (see the module's docstring)."""

    name: str
    metric: str
    held_out: str | list[str]
    min_gain: float = 0.0
    release_name: str | None = None
    unscored: Literal["keep", "newer"] = "keep"


def registry_gates(params: dict[str, Any]) -> dict[str, Gate]:
    """Family → its gate, each checked (a misspelt or mistyped option stops naming the family and option)."""
    return {family: Gate(**typed_options(f"model_registry.{family}", Gate, options))
            for family, options in (params.get("model_registry") or {}).items()}


def held_out_set(gate: Gate, source: str, params: dict[str, Any]) -> str:
    """The held-out set a score is measured on: the source and the values of the parameters that define
    its split (``gate.held_out``: parameter paths, ``{source}`` filled in). A parameter an environment does
    not set (one added after its configuration was written, read with a default) counts as None: a score
    is then compared only with scores of environments that leave it unset too."""
    paths = [gate.held_out] if isinstance(gate.held_out, str) else gate.held_out
    identity: dict[str, Any] = {"source": source}
    for path in paths:
        value: Any = params
        for key in path.format(source=source).split("."):
            value = value.get(key) if isinstance(value, dict) else None
        identity[path.format(source=source)] = value
    return json.dumps(identity, sort_keys=True, default=str)


@dataclass(frozen=True)
class GateDecision:
    name: str
    version: str
    alias: str
    metric: str
    score: float | None
    previous_version: str | None
    previous_score: float | None
    promoted: bool
    reason: str


SCORE_TAG, METRIC_TAG, HELD_OUT_TAG = "socialml.score", "socialml.metric", "socialml.held_out"


def register_and_gate(model_id: str, name: str, alias: str, metric: str, score: float | None, min_gain: float,
                      held_out: str, tags: dict[str, str],
                      unscored: Literal["keep", "newer"] = "keep") -> GateDecision:
    """Register ``model_id`` as a new version of ``name`` and move ``alias`` to it if it beats the holder.

    A version without a score (a source with no held-out truth) takes the alias where no version holds
    it, and, with ``unscored="newer"``, from a holder without a score on the same held-out set: neither
    can be judged, and the newer one was trained on the data as it is now (a survey's new questions).
    """
    client = mlflow.MlflowClient()
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, tags={key: value for key, value in tags.items() if key == "socialml.source"})
    scored = {SCORE_TAG: repr(float(score))} if score is not None else {}
    version = client.create_model_version(name, f"models:/{model_id}", model_id=model_id, tags={
        **tags, METRIC_TAG: metric, HELD_OUT_TAG: held_out, **scored}).version
    try:
        holder = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        holder = None
    previous_score = float(holder.tags[SCORE_TAG]) if holder is not None and SCORE_TAG in holder.tags else None
    comparable = holder is not None and (holder.tags.get(HELD_OUT_TAG), holder.tags.get(METRIC_TAG)) == (held_out, metric)
    if holder is None:
        promoted, reason = True, f"no version held '{alias}'"
    elif not comparable:
        promoted, reason = False, (f"not comparable with version {holder.version} (another metric or held-out set: "
                                   f"{holder.tags.get(METRIC_TAG)} on {holder.tags.get(HELD_OUT_TAG)}); "
                                   f"'{alias}' stays; move it by hand if this version should serve")
    elif unscored == "newer" and score is None and previous_score is None:
        promoted, reason = True, (f"neither this version nor version {holder.version} has a {metric} score "
                                  "(no held-out truth); the newer serves (unscored: newer)")
    elif score is None or previous_score is None:
        promoted, reason = False, (f"version {version} or version {holder.version} has no {metric} score to compare; "
                                   f"'{alias}' stays; move it by hand if this version should serve")
    elif score - previous_score > min_gain:
        promoted, reason = True, f"{metric} {score:.4f} beats {previous_score:.4f} by more than {min_gain}"
    else:
        promoted, reason = False, (f"{metric} {score:.4f} does not beat version {holder.version}'s "
                                   f"{previous_score:.4f} by more than {min_gain}")
    if promoted:
        client.set_registered_model_alias(name, alias, version)
    decision = GateDecision(name, str(version), alias, metric, score, str(holder.version) if holder else None,
                            previous_score, promoted, reason)
    client.set_model_version_tag(name, version, f"socialml.gate.{alias}", json.dumps(asdict(decision)))
    logger.info("model registry: %s version %s %s '%s': %s", name, version,
                "takes" if promoted else "does not take", alias, reason)
    return decision


def exported_models_folder(project_path: Path, params: dict[str, Any]) -> Path:
    """Where a run exports the alias holders and the service looks for them (``serving.exported_models``)."""
    return Path(project_path) / (params.get("serving") or {}).get("exported_models", "data/06_models/served")


def export_served_model(name: str, alias: str, folder: str | Path) -> Path:
    """Copy the version holding ``name@alias`` to ``folder/<name>/<alias>`` (the service's fallback when no
    registry answers), with ``registered.json`` saying which version it is; replaces the previous export
    whole (written aside, then moved into place), so a killed export leaves the last one intact."""
    client = mlflow.MlflowClient()
    holder = client.get_model_version_by_alias(name, alias)
    target = Path(folder) / name / alias
    exported = target / "registered.json"
    if exported.is_file() and json.loads(exported.read_text())["version"] == str(holder.version):
        return target  # that version is exported already
    target.parent.mkdir(parents=True, exist_ok=True)
    for leftover in target.parent.glob(f".{alias}.*"):  # staging folders of exports that were killed
        if leftover.name != f".{alias}.previous":
            shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{alias}.", dir=target.parent))
    mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{holder.version}", dst_path=str(staging / "model"))
    record = {"name": name, "alias": alias, "version": str(holder.version), "run_id": holder.run_id,
              "aliases": sorted(holder.aliases), "model_id": getattr(holder, "model_id", None),
              "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (staging / "registered.json").write_text(json.dumps(record, indent=1))
    previous = target.with_name(f".{alias}.previous")
    shutil.rmtree(previous, ignore_errors=True)
    if target.exists():
        target.rename(previous)
    staging.rename(target)
    shutil.rmtree(previous, ignore_errors=True)
    return target
