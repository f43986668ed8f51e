"""Where the service's models come from, and what each family's loader and router are given.

A family's model is the registered model ``models:/<name>@<alias>`` (``model_registry.<family>.name``;
the alias from ``serving``, the feed's ``control`` and ``test``). When the registry does not answer
(no tracking server reachable, or the model is not registered there), the copy of that alias that the
last run exported (``serving.exported_models/<name>/<alias>``) is loaded instead, and says so. A model
that the registry names but that does not load is an error, not a reason to serve another one.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from socialml.components.text.encoders import trained_encoder

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedModel:
    """Which model a family serves: what ``/version`` reports."""

    family: str
    name: str
    alias: str
    version: str | None
    run_id: str | None
    aliases: list[str]
    origin: str  # "registry", or "exported" (the fallback folder)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ModelStore:
    """Loads registered models by alias, from the registry or else from the exported folder."""

    def __init__(self, exported_folder: str | Path) -> None:
        self.exported_folder = Path(exported_folder)

    def load(self, family: str, name: str, alias: str) -> tuple[Any, ServedModel]:
        """The project model behind ``models:/<name>@<alias>`` and where it came from."""
        import mlflow

        try:
            holder = mlflow.MlflowClient().get_model_version_by_alias(name, alias)
        except Exception as error:  # unreachable server, unknown model or alias: all mean "use the export"
            folder = self._exported(name, alias)
            if folder is None:
                raise LookupError(f"{name}@{alias}: the registry has no such model ({_first_line(error)}) and no "
                                  f"export of it is in {self.exported_folder / name / alias}; run `kedro run` first"
                                  ) from error
            logger.warning("%s@%s: the registry did not answer (%s); serving the export in %s", name, alias,
                           _first_line(error), folder)
            record = json.loads((folder / "registered.json").read_text())
            model = _project_model(mlflow.pyfunc.load_model(str(folder / "model")))
            return model, ServedModel(family, name, alias, record["version"], record["run_id"], record["aliases"],
                                      "exported")
        model = _project_model(mlflow.pyfunc.load_model(f"models:/{name}/{holder.version}"))
        return model, ServedModel(family, name, alias, str(holder.version), holder.run_id, sorted(holder.aliases),
                                  "registry")

    def _exported(self, name: str, alias: str) -> Path | None:
        """The export of ``name@alias``, or the one an export killed half-way set aside."""
        for folder in (self.exported_folder / name / alias, self.exported_folder / name / f".{alias}.previous"):
            if (folder / "registered.json").is_file():
                return folder
        return None


def _project_model(pyfunc_model: Any) -> Any:
    """The project's own model object inside an MLflow pyfunc model (``hooks.FramePredictor``)."""
    return pyfunc_model.unwrap_python_model().model


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


@dataclass
class TextEncoders:
    """The text encoders the families' models were trained with, built once per process and shared."""

    _built: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def encode(self, texts: Sequence[str], record: dict[str, Any]) -> np.ndarray:
        """Embeddings from the encoder a model was trained with (its record); refused if this machine's
        encoder gives other vectors than the training one did."""
        with self._lock:  # encoders are built once; their inference is not re-entrant
            encoder = self._built.get(record["identity"])
            if encoder is not None:
                return encoder.encode(list(texts))
            encoder, vectors = trained_encoder(record, list(texts))
            self._built[record["identity"]] = encoder  # checked once, kept only if it is the model's
            return vectors


@dataclass(frozen=True)
class ServiceOptions:
    """Settings of the running service that a family's router may need."""

    feed_log: Path | None = None  # JSON lines of served feeds (read by the ab_test pipeline)


@dataclass
class LoadContext:
    """What a family's loader is given: the project's catalog and parameters, the model store, and the
    shared text encoders; ``model`` records each model it hands out."""

    catalog: Any
    params: dict[str, Any]
    store: ModelStore
    encoders: TextEncoders
    served: list[ServedModel] = field(default_factory=list)

    def model(self, family: str, alias: str | None = None) -> Any:
        """The family's registered model under ``alias`` (default: the one ``serving.<family>.alias`` names)."""
        name = self.params["model_registry"][family]["name"]
        alias = alias or (self.params["serving"].get(family) or {}).get("alias", "champion")
        model, served = self.store.load(family, name, alias)
        self.served.append(served)
        return model
