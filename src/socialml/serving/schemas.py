"""Request and response types every family's router shares, and the service's own answers."""

from __future__ import annotations

import re
from typing import Annotated

import pandas as pd
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

# Ids are integers or strings, as the source has them; a request gives them as text.
Id = int | str
IdText = Annotated[str, Field(min_length=1, max_length=200)]

INTEGER = re.compile(r"[+-]?\d{1,18}")
MAX_ID = 2**53  # integer ids beyond this lose precision in JSON clients


def parse_id(text: str | int, integer_ids: bool, what: str) -> int | str:
    """An id from a request, typed like the source's ids; a non-integer for integer ids is a ValueError."""
    text = str(text).strip()
    if not integer_ids:
        return text
    if not INTEGER.fullmatch(text) or abs(int(text)) > MAX_ID:
        raise ValueError(f"this {what} source has integer ids; got {text!r}")
    return int(text)


def typed_id(text: str | int, integer_ids: bool, what: str, where: list) -> int | str:
    """``parse_id`` for a request field: a wrong type is a 422 that names the field (``where``)."""
    try:
        return parse_id(text, integer_ids, what)
    except ValueError as error:
        raise RequestValidationError([{"loc": where, "msg": str(error), "type": "id_type"}]) from None


def blank(text: str | None) -> bool:
    """Nothing to read: empty, white space, or control characters only (a NUL-filled field is no text)."""
    return not "".join(ch for ch in (text or "") if ch.isprintable()).strip()


def integer_ids(ids: pd.Index) -> bool:
    """Whether a source's ids are integers (else strings)."""
    return pd.api.types.is_integer_dtype(ids)


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Ready(BaseModel):
    ready: bool


class ServedModelInfo(BaseModel):
    family: str = Field(examples=["topics"])
    name: str = Field(description="registered model", examples=["socialml-topics"])
    alias: str = Field(examples=["champion"])
    version: str | None = Field(description="registered version", examples=["3"])
    run_id: str | None = Field(description="the MLflow run that trained it")
    aliases: list[str] = Field(description="every alias this version holds", examples=[["champion"]])
    origin: str = Field(description="'registry', or 'exported' when no registry answered", examples=["registry"])


class VersionInfo(BaseModel):
    app: str
    families: list[str]
    models: list[ServedModelInfo]
    worker_pid: int = Field(description="the process serving this request (a reload replaces it)")


class ReloadAnswer(BaseModel):
    reloaded: bool
    reason: str | None = None
    models: list[ServedModelInfo] = []
