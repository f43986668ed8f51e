"""Source adapters and validation: raw frames in, one canonical table plus its rejected rows out.

A *layout* describes, per canonical table, which raw frames feed it and how their columns map
(see ``conf/base/parameters_ingestion.yml``). Each table spec may hold:

``raw``         a raw frame name, or a mapping raw name → split label (frames are stacked)
``columns``     canonical column → raw column
``keep``        raw columns to keep under their own names (free-form features)
``constants``   canonical column → constant value
``values``      canonical column → {raw value: canonical value}
``generate_id`` canonical id column to number 1..n (for sources without ids)
``labels``      how to build a list column: ``{column, separator}``, ``{column}`` (one label),
                or ``{columns, threshold}`` (multi-hot columns, ``columns: "*"`` = all unmapped)
``likes_from``  ``{column, min}``: every raw row is a view; rows with column ≥ min add a like
``melt``        ``{columns, id, value_column}``: wide 0/1 columns → one row per held product
``add_ids_from`` ``{raw, column}``: ids present only in another frame (added with empty fields)
``leak_guard``  ``{column, split}``: rows of that split whose column value also occurs in another
                split are rejected (the text would leak into evaluation)

Every raw row ends in the canonical table or in the rejected table with its reason.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import numpy as np
import pandas as pd
import pandera.errors as pa_errors

from socialml.components.canonical import LIST_COLUMNS, TABLES, CanonicalTable

ROW = "_row"  # position of the row in its raw frame
RAW = "_raw"  # name of the raw frame the row came from
REJECTED_COLUMNS = ["table", "raw", "row", "reason", "record"]


class MissingColumnsError(ValueError):
    """A raw frame lacks columns that the layout maps: the run must stop, not guess."""


def adapt(table: str, spec: dict[str, Any], raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Map raw frames into the canonical column names of ``table`` (no validation yet)."""
    frames = []
    for raw_name, split in _raw_sources(spec).items():
        if raw_name not in raw:
            raise KeyError(f"{table}: raw frame '{raw_name}' is not an input (have {sorted(raw)})")
        frame = raw[raw_name]
        _require_columns(table, raw_name, frame, _columns_used(spec, frame))
        adapted = _map_columns(spec, frame)
        adapted[RAW] = raw_name
        adapted[ROW] = np.arange(len(frame))
        if split is not None:
            adapted["split"] = split
        frames.append(adapted)
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if "melt" in spec:
        out = _melt(spec["melt"], out)
    if "likes_from" in spec:
        out = _likes_from(spec["likes_from"], out)
    if "generate_id" in spec:
        out[spec["generate_id"]] = np.arange(1, len(out) + 1)
    if "add_ids_from" in spec:
        out = _add_ids(spec["add_ids_from"], out, raw, table)
    return _complete(table, out)


def _raw_sources(spec: dict[str, Any]) -> dict[str, str | None]:
    raw = spec["raw"]
    return dict(raw) if isinstance(raw, dict) else {raw: None}


def _label_columns(labels: dict[str, Any], frame: pd.DataFrame, mapped: set[str]) -> list[str]:
    columns = labels["columns"]
    if columns == "*":
        return [c for c in frame.columns if c not in mapped]
    return list(columns)


def _columns_used(spec: dict[str, Any], frame: pd.DataFrame) -> list[str]:
    used = list(spec.get("columns", {}).values()) + list(spec.get("keep", []))
    labels = spec.get("labels")
    if labels:
        used += [labels["column"]] if "column" in labels else _label_columns(labels, frame, set(used))
    if "likes_from" in spec:
        used.append(spec["likes_from"]["column"])
    if "melt" in spec:
        used += _melt_columns(spec["melt"], frame)
    return used


def _require_columns(table: str, raw_name: str, frame: pd.DataFrame, needed: list[str]) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise MissingColumnsError(
            f"{table}: raw frame '{raw_name}' lacks required column(s) {missing}; "
            f"it has {list(frame.columns)}. Fix the file or the layout in parameters_ingestion.yml."
        )


def _map_columns(spec: dict[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    mapping: dict[str, str] = spec.get("columns", {})
    out = pd.DataFrame({canonical: frame[source] for canonical, source in mapping.items()}, index=frame.index)
    for column in spec.get("keep", []):
        out[column] = frame[column]
    for column, value in spec.get("constants", {}).items():
        out[column] = value
    for column, value_map in spec.get("values", {}).items():
        # Keys from YAML may be ints or strings; match on the string form of both.
        lookup = {str(k): v for k, v in value_map.items()}
        original = out[column]
        mapped = original.astype("string").str.strip().map(lookup)
        # Unmapped values stay visible to validation as-is, so they are rejected with their value.
        out[column] = mapped.astype(object).where(mapped.notna(), original.astype(object))
    labels = spec.get("labels")
    if labels:
        out["topics" if "target" not in labels else labels["target"]] = _labels(labels, frame, set(mapping.values()))
    if "melt" in spec:
        for column in _melt_columns(spec["melt"], frame):
            out[column] = frame[column]
    if "likes_from" in spec:
        out["_score"] = frame[spec["likes_from"]["column"]]
    return out.reset_index(drop=True)


def _labels(labels: dict[str, Any], frame: pd.DataFrame, mapped: set[str]) -> pd.Series:
    if "column" in labels:
        values = frame[labels["column"]].astype("string").fillna("")
        separator = labels.get("separator")
        if separator:
            lists = [[t.strip() for t in s.split(separator) if t.strip()] for s in values]
        else:
            lists = [[s.strip()] if s.strip() else [] for s in values]
        return pd.Series(lists, index=frame.index, dtype=object)
    columns = _label_columns(labels, frame, mapped)
    scores = frame[columns].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy()
    hot = scores >= labels.get("threshold", 0.5)
    names = np.array(columns)
    return pd.Series([list(names[row]) for row in hot], index=frame.index, dtype=object)


def _melt_columns(melt: dict[str, Any], frame: pd.DataFrame) -> list[str]:
    pattern = melt["columns"]
    if isinstance(pattern, str):
        return [c for c in frame.columns if fnmatch.fnmatch(c, pattern)]
    return list(pattern)


def _melt(melt: dict[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """Wide 0/1 product columns → one row per (client, product held)."""
    product_columns = [c for c in frame.columns if c not in (melt["id"], RAW, ROW, "since", "split")]
    long = frame.melt(id_vars=[melt["id"], RAW, ROW, *(["since"] if "since" in frame else [])],
                      value_vars=product_columns, var_name="product_id", value_name="_held")
    held = pd.to_numeric(long["_held"], errors="coerce")
    pattern = melt.get("strip")
    if pattern:
        long["product_id"] = long["product_id"].str.replace(pattern, "", regex=True)
    return long[held == 1].drop(columns="_held").sort_values([RAW, ROW], kind="stable", ignore_index=True)


def _likes_from(rule: dict[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """Explicit ratings as implicit feedback: each row is a view; high ratings are also likes."""
    score = pd.to_numeric(frame["_score"], errors="coerce")
    views = frame.assign(action="view")
    likes = frame[score >= rule["min"]].assign(action="like")
    return pd.concat([views, likes], ignore_index=True).drop(columns="_score")


def _add_ids(rule: dict[str, Any], frame: pd.DataFrame, raw: dict[str, pd.DataFrame], table: str) -> pd.DataFrame:
    extra_frame = raw[rule["raw"]]
    _require_columns(table, rule["raw"], extra_frame, [rule["column"]])
    key = TABLES[table].key[0]
    ids = pd.to_numeric(extra_frame[rule["column"]], errors="coerce")
    known = pd.to_numeric(frame[key], errors="coerce")
    new = ~ids.isin(known) & ids.notna()
    extra = pd.DataFrame({key: ids[new].astype("int64").to_numpy(), RAW: rule["raw"],
                          ROW: np.flatnonzero(new.to_numpy())})
    return pd.concat([frame, extra], ignore_index=True)


def _complete(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Add the optional canonical columns a source does not have, empty."""
    schema = TABLES[table].schema
    for name, column in schema.columns.items():
        if name in frame:
            if name in LIST_COLUMNS:  # rows added without labels (add_ids_from) get an empty list
                frame[name] = frame[name].map(lambda v: v if isinstance(v, list) else [])
            continue
        if name in LIST_COLUMNS:
            frame[name] = pd.Series([[] for _ in range(len(frame))], index=frame.index, dtype=object)
        elif column.required:
            raise MissingColumnsError(f"{table}: the layout maps no column to required '{name}'")
        else:
            frame[name] = pd.Series(pd.NA, index=frame.index, dtype=object)
    return frame


def validate(
    table: str,
    frame: pd.DataFrame,
    references: dict[str, pd.DataFrame] | None = None,
    leak_guard: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split an adapted frame into (accepted canonical rows, rejected rows with reasons)."""
    spec = TABLES[table]
    typed, reasons = _coerce(spec, frame)
    # pandera runs the value checks; rows that fail are collected, not raised.
    checkable = typed[~typed.index.isin(list(reasons))]
    try:
        spec.schema.validate(checkable, lazy=True)
    except pa_errors.SchemaErrors as errors:
        _collect_failures(errors.failure_cases, reasons, table)
    ok = ~frame.index.isin(list(reasons))
    _reject_duplicates(spec, typed, ok, reasons)
    _reject_dangling(spec, typed, references or {}, ok, reasons)
    if leak_guard:
        _reject_leaks(typed, leak_guard, ok, reasons)
    accepted = spec.schema.validate(typed[~typed.index.isin(list(reasons))], lazy=False)
    accepted = accepted.drop(columns=[RAW, ROW]).reset_index(drop=True)
    return accepted, _rejected_frame(table, frame, reasons)


def _coerce(spec: CanonicalTable, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, list[str]]]:
    """Cast numeric and datetime columns element-wise; a value that does not parse rejects its row.

    Numbers in a datetime column are read as unix seconds (MovieLens stores time that way).
    """
    reasons: dict[int, list[str]] = {}
    typed = frame.copy()
    for name, column in spec.schema.columns.items():
        if name not in frame:
            continue
        dtype = str(column.dtype)
        values = frame[name]
        if dtype.startswith("datetime"):
            if pd.api.types.is_numeric_dtype(values):
                cast = pd.to_datetime(values, unit="s", errors="coerce")
            else:
                cast = pd.to_datetime(values, errors="coerce", format="mixed", utc=True).dt.tz_localize(None)
        elif dtype in ("int64", "Int64", "float64"):
            cast = pd.to_numeric(values, errors="coerce")
            fractional = cast.notna() & (cast % 1 != 0) & dtype.lower().startswith("int")
            cast = cast.mask(fractional)
        else:
            if not column.nullable:
                _flag(reasons, values.isna(), frame, name, "missing value")
            continue
        _flag(reasons, values.notna() & cast.isna(), frame, name, f"wrong type, expected {dtype}")
        if not column.nullable:
            _flag(reasons, values.isna(), frame, name, "missing value")
        typed[name] = cast if dtype != "int64" else cast.astype("Float64").astype("Int64")
    return typed, reasons


def _flag(reasons: dict[int, list[str]], mask: pd.Series, frame: pd.DataFrame, column: str, why: str) -> None:
    for index in frame.index[mask.to_numpy()]:
        reasons.setdefault(int(index), []).append(f"{column}: {why} (got {frame.at[index, column]!r})")


def _collect_failures(cases: pd.DataFrame, reasons: dict[int, list[str]], table: str) -> None:
    row_level = cases[cases["index"].notna()]
    table_level = cases[cases["index"].isna()]
    if len(table_level):
        problems = "; ".join(f"{r.column}: {r.check} ({r.failure_case})" for r in table_level.itertuples())
        raise ValueError(f"{table}: the data does not fit the canonical schema: {problems}")
    for case in row_level.itertuples():
        check = str(case.check)
        reason = f"{case.column}: {_describe(check)} (got {case.failure_case!r})"
        reasons.setdefault(int(case.index), []).append(reason)


def _describe(check: str) -> str:
    if check == "not_nullable":
        return "missing value"
    # Built-in checks are named like "in_range(5, 110)"; custom ones carry a readable error.
    return f"fails {check}" if "(" in check else check


def _reject_duplicates(spec: CanonicalTable, frame: pd.DataFrame, ok: np.ndarray, reasons) -> None:
    if not spec.key:
        return
    candidates = frame.loc[ok, list(spec.key)]
    duplicated = candidates.duplicated(keep="first")
    for index in candidates.index[duplicated.to_numpy()]:
        reasons.setdefault(int(index), []).append(f"duplicate of an earlier row on key {list(spec.key)}")


def _reject_dangling(spec: CanonicalTable, frame: pd.DataFrame, references, ok: np.ndarray, reasons) -> None:
    for column, target in spec.references.items():
        if target not in references:
            continue
        target_key = TABLES[target].key[0]
        values = pd.to_numeric(frame[column], errors="coerce")
        dangling = ok & ~values.isin(references[target][target_key]).to_numpy()
        for index in frame.index[dangling]:
            reasons.setdefault(int(index), []).append(f"{column} {frame.at[index, column]} is not in {target}")


def _reject_leaks(frame: pd.DataFrame, guard: dict[str, str], ok: np.ndarray, reasons) -> None:
    column, split = guard["column"], guard["split"]
    held_out = set(frame.loc[frame["split"] != split, column].dropna())
    leaking = ok & (frame["split"] == split).to_numpy() & frame[column].isin(held_out).to_numpy()
    for index in frame.index[leaking]:
        reasons.setdefault(int(index), []).append(f"{column} also occurs in another split (would leak)")


def _rejected_frame(table: str, frame: pd.DataFrame, reasons: dict[int, list[str]]) -> pd.DataFrame:
    if not reasons:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else "str") for c in REJECTED_COLUMNS})
    index = sorted(reasons)
    rows = frame.loc[index]
    records = rows.drop(columns=[RAW, ROW]).astype(object).where(rows.notna(), None)
    return pd.DataFrame(
        {
            "table": table,
            "raw": rows[RAW].astype(str).to_numpy(),
            "row": rows[ROW].astype("int64").to_numpy(),
            "reason": ["; ".join(reasons[i]) for i in index],
            "record": [json.dumps(r, default=str, ensure_ascii=False) for r in records.to_dict("records")],
        }
    )
