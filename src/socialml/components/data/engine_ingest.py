"""Ingestion of the event logs (feed events, views) on an engine, with ``ingest.validate``'s rules and reasons.

The event logs are the tables that grow to tens of millions of rows, so their checks run as Ibis expressions on the
configured engine (DuckDB in process, or Spark): casts and value checks per row, duplicates on the key, and keys
that point at no user or post. Only the rejected rows come back to pandas, where their reasons are worded as
``ingest.validate`` words them; the accepted rows stay an expression that the engine writes straight to parquet.

A layout for these tables may use ``raw`` (one frame), ``columns``, ``constants``, ``values``, ``likes_from``,
``id_types``, ``checks``, ``dayfirst``, ``time_zone`` and ``exported_at``. Text timestamps are read as ISO 8601,
as numeric dates in one order per column, or with month names, as pandas' ingestion reads them (07.12.2026,
12/7/26, Dec 7, 2026, with a time of day such as 10:05, 10:05:30.250 or 3:04 PM, and a zone: +03:00, UTC+3, MSK),
and relative to the export where the layout gives ``exported_at``; numbers, typed or written as text, as unix time
in the unit their magnitude suggests. A timestamp in another text format is rejected as not a date or time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from socialml.components.core.errors import SettingsError
from socialml.components.data.canonical import (
    CLOCK_HMS,
    CLOCK_MS,
    DURATION_COLUMNS,
    ID_COLUMNS,
    NOT_UTF8,
    REPLACEMENT_CHAR,
    TABLES,
    CanonicalTable,
)
from socialml.components.data.engines import Engine
from socialml.components.data.ingest import (
    AGO_SECONDS,
    COMPACT_DATES,
    CTIME_DATE,
    DISORDERED_WHY,
    FLOAT_EXACT,
    INT64_LIMIT,
    INT_TEXT,
    JUST_NOW,
    LOCAL_UNITS,
    LOST_DIGITS,
    MAX_ZONE_MINUTES,
    MONTH_NUMBERS,
    RAW,
    RELATIVE_DAY,
    ROW,
    RUSSIAN_YEAR,
    TIME_AGO,
    WEEKDAY,
    WORDS_DATE,
    YEARLESS_DATE,
    ZONE_MINUTES,
    ZONE_NAME,
    ZONE_OFFSET,
    ZONE_TAIL,
    ZONED_TIME,
    Checks,
    EmptySourceError,
    LocalTime,
    MissingColumnsError,
    TimeReading,
    _describe,
    _Reasons,
    _rejected_frame,
    _rejection_by_key,
    _shown,
    compact_parts,
    epoch_unit,
    id_text,
    mapped_columns,
    numeric_date_order,
    readable_numbers,
    relative_days,
    resolve_id_types,
    unix_micros,
    unix_seconds,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir

ENGINE_TABLES = ("feed_events", "views")
LAYOUT_OPTIONS = {"raw", "columns", "constants", "values", "likes_from", "id_types", "checks", "dayfirst",
                  "time_zone", "exported_at"}
# A numeric date as pandas' ingestion reads it (ingest.NUMERIC_DATE), and its time of day (its zone taken off
# before: ingest.ZONED_TIME), in at most nine groups (DuckDB's limit) and without a back reference (RE2 has none):
# the middle group holds both separators.
NUMERIC_DATE_TIME = (r"^(\d{1,2})(\.\d{1,2}\.|/\d{1,2}/|-\d{1,2}-)(\d{4}|\d{2})"
                     r"(?:(?:[ T]|, )(\d{1,2}):(\d{1,2})(?::(\d{1,2})(\.\d+)?)?(?: ?([AaPp][Mm]))?)?$")
# ISO 8601 as the engine's cast reads it, once the zone is taken off: DuckDB's cast also reads zone names
# ("10:00 CST" as Chicago's, "10:00 Europe/Moscow"), which pandas and Spark do not.
ISO_DATE_TIME = r"^\d{4}-\d{1,2}-\d{1,2}(?:[ Tt]\d{1,2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)?$"
YEAR_FIRST_DATE = r"^\d{4}[./]\d{1,2}[./]\d{1,2}"  # a date with the year first and dots or slashes
PART = "_part"  # 0: a raw row; 1: the like that a high rating adds (likes_from)
TEXT_TIME = "_text_time_"  # prefix of the timestamp a text column reads as
DISORDERED = "_disordered_"  # prefix of the flag of a numeric date that only reads in the other order
ZONED = "_zoned_"  # prefix of the flag of a text time that names its zone
# Prefixes of what a time column reads as where it holds numbers (_with_unix_times)
UNIX_TIME, NUMBER, IMPLAUSIBLE = "_unix_time_", "_number_", "_implausible_"
UNREAD_NUMBER, LOCAL_NUMBER = "_unread_number_", "_local_number_"
TYPED = "_typed_"  # prefix of a column's cast value beside its raw one
ID_SAMPLE_ROWS = 100_000  # ids whose type is neither declared nor referenced are inferred from this many rows
DATA_TYPES = {"datetime64[ns]": "timestamp", "float64": "float64", "int64": "int64", "Int64": "int64"}  # else text


@dataclass(frozen=True)
class _Flag:
    """One reason a row can be rejected: the column holding the test, its kind, and the column whose value it quotes."""

    name: str
    kind: str
    shown: str | None = None


@dataclass
class EngineIngestion:
    """The accepted rows (an expression the engine has not run yet), the rejected ones with reasons, and row counts."""

    accepted: ir.Table
    rejected: pd.DataFrame
    raw_rows: int
    candidate_rows: int
    rejected_rows: int


def adapt_on_engine(table: str, spec: dict[str, Any], raw: ir.Table) -> ir.Table:
    """Map one raw table (numbered by its ``_row`` column) into ``table``'s canonical columns, unchecked."""
    unsupported = set(spec) - LAYOUT_OPTIONS
    if unsupported or not isinstance(spec["raw"], str):
        raise SettingsError(f"{table}: ingestion on the engine reads one raw frame with the layout options "
                            f"{sorted(LAYOUT_OPTIONS)}; this layout has {sorted(unsupported) or spec['raw']}")
    raw_name = spec["raw"]
    likes_from = spec.get("likes_from")
    needed = mapped_columns(spec) + ([likes_from["column"]] if likes_from else [])
    missing = [column for column in needed if column not in raw.columns]
    if missing:
        raise MissingColumnsError(
            f"{table}: raw frame '{raw_name}' lacks required column(s) {missing}; it has "
            f"{[c for c in raw.columns if c != ROW]}. Fix the file or the layout in parameters_ingestion.yml.")
    if ROW not in raw.columns:
        raise ValueError(f"{table}: raw table '{raw_name}' has no '{ROW}' column numbering its rows "
                         f"(its catalog entry needs `row_numbers: {ROW}`)")
    import ibis

    columns: dict[str, Any] = {canonical: raw[source] if isinstance(source, str) else _joined(raw, source)
                               for canonical, source in spec.get("columns", {}).items()}
    columns |= {column: ibis.literal(value) for column, value in spec.get("constants", {}).items()}
    for column, value_map in spec.get("values", {}).items():
        # Unmapped values pass as they are, so validation rejects them quoting the value.
        text = columns[column].cast("string")
        columns[column] = _trimmed(text).substitute({str(k): v for k, v in value_map.items()}, else_=text)
    # A feed log's action may come from likes_from instead of a column.
    required = [name for name in TABLES[table].required_columns
                if name not in columns and not (name == "action" and likes_from)]
    if required:
        raise MissingColumnsError(f"{table}: the layout maps no column to required {required}")
    rows = raw.select(**columns, **{RAW: ibis.literal(raw_name), ROW: raw[ROW], PART: ibis.literal(0)},
                      **({"_score": raw[likes_from["column"]].try_cast("float64")} if likes_from else {}))
    if not likes_from:
        return rows
    # Explicit ratings as implicit feedback: each row is a view; rows rated at least `min` also add a like.
    views = rows.mutate(action=ibis.literal("view")).drop("_score")
    likes = rows.filter(rows["_score"] >= likes_from["min"]).mutate(action=ibis.literal("like"),
                                                                     **{PART: ibis.literal(1)}).drop("_score")
    return views.union(likes)


def _joined(raw: ir.Table, parts: list[str]) -> Any:
    """Raw columns read as one, as ``ingest._joined`` reads them: their texts joined by a space, null where any
    part is blank; a part typed as a date and time gives its date."""
    import ibis

    texts = [raw[part].date().cast("string") if raw[part].type().is_timestamp() else _id_text(raw[part])
             for part in parts]
    return ibis.cases((_any([text.isnull() for text in texts]), ibis.null("string")),
                      else_=ibis.literal(" ").join(texts))


def ingest_on_engine(table: str, spec: dict[str, Any], raw: ir.Table, engine: Engine,
                     references: dict[str, pd.DataFrame], rejected_references: dict[str, pd.DataFrame],
                     checks: Checks) -> EngineIngestion:
    """Check every row of ``raw`` on the engine; fetch only the rejected rows (at most what the checks allow,
    plus one)."""
    schema = TABLES[table]
    raw_rows = int(engine.run(raw.count()))
    if raw_rows == 0:
        raise EmptySourceError(f"{table}: raw frame '{spec['raw']}' has a header but no rows "
                               f"({[c for c in raw.columns if c != ROW]})")
    adapted = adapt_on_engine(table, spec, raw)
    candidates = raw_rows if "likes_from" not in spec else int(engine.run(adapted.count()))
    id_columns = [c for c in ID_COLUMNS if c in adapted.columns]
    sample = engine.run(adapted.select(id_columns).limit(ID_SAMPLE_ROWS)) if id_columns else pd.DataFrame()
    id_types = resolve_id_types(schema, sample, references, spec.get("id_types") or {})
    cast, cast_flags = _checked(schema, adapted, id_types, checks, engine, TimeReading.of(spec))
    checked, flags = _with_key_checks(schema, cast, cast_flags, references, engine)
    any_flag = _any([checked[flag.name] for flag in flags])
    allowed = int(checks.max_rejected_share * candidates)
    fetched = engine.run(checked.filter(any_flag).order_by([PART, ROW]).limit(allowed + 1))
    complete = len(fetched) <= allowed
    rejected_rows = len(fetched) if complete else int(engine.run(checked.filter(any_flag).count()))
    rejected = _rejected(table, schema, fetched, flags, adapted.columns, rejected_references)
    # With every rejected row in hand, the accepted rows are the others: a second pass without the duplicates'
    # window, joined against the few rejected positions.
    kept = cast.anti_join(engine.table(fetched[[PART, ROW]]), [PART, ROW]) if complete else checked.filter(~any_flag)
    typed = {name: kept[TYPED + name] for name in schema.schema.columns if TYPED + name in kept.columns}
    accepted = kept.order_by([PART, ROW]).select(**typed)
    return EngineIngestion(accepted, rejected, raw_rows, candidates, rejected_rows)


def _checked(schema: CanonicalTable, adapted: ir.Table, id_types: dict[str, str], checks: Checks,
             engine: Engine, times: TimeReading = TimeReading()) -> tuple[ir.Table, list[_Flag]]:
    """Each canonical column cast (``_typed_<column>``) beside one boolean column per way a value can fail."""
    import ibis

    lower, upper = checks.time_window()
    typed, tests, flags = {}, {}, []

    def flag(name: str, test: Any, why: str, shown: str | None) -> None:
        label = f"_flag_{len(flags)}"
        tests[label] = test.fill_null(False)
        flags.append(_Flag(label, f"{name}: {why}", shown))

    for name, column in schema.schema.columns.items():
        if name in adapted.columns and str(column.dtype).startswith("datetime"):
            if _is_text(adapted[name]):
                adapted = _with_text_times(adapted, name, times, f"{schema.name}.{name}", engine)
            if not adapted[name].type().is_timestamp():
                adapted = _with_unix_times(adapted, name, lower, upper, engine)
    for name, column in schema.schema.columns.items():
        if name not in adapted.columns:  # optional and not in this source: empty
            typed[name] = ibis.null().cast(DATA_TYPES.get(str(column.dtype), "string"))
            continue
        values = adapted[name]
        if name in ID_COLUMNS:
            cast, problems, missing = _cast_id(values, id_types[name])
        elif str(column.dtype).startswith("datetime"):
            cast, problems = _cast_time(adapted, name, lower, upper, engine, times.time_zone)
            missing = values.isnull()
        elif str(column.dtype) in ("int64", "Int64", "float64"):
            readable = _clock_seconds(values) if name in DURATION_COLUMNS else values
            cast, problems = _cast_number(readable, integer=str(column.dtype).lower() == "int64")
            missing = values.isnull()
        else:
            cast, problems, missing = values.cast("string"), [], values.isnull()
        for test, why in problems:
            flag(name, test, why, name)
        if not column.nullable:
            flag(name, missing, "missing value", name)
        typed[name] = cast
    # The schema's value checks apply to the rows every cast accepted, as pandera's do in ``validate``.
    cast_ok = ~_any(list(tests.values()))
    for name, column in schema.schema.columns.items():
        for check in column.checks if name in adapted.columns else []:
            flag(name, cast_ok & typed[name].notnull() & ~_passes(check, typed[name]), _describe(check.error),
                 TYPED + name)
    checked = adapted.mutate(**{TYPED + name: value for name, value in typed.items()}, **tests)
    # The text times' steps are not fetched: an unchecked one (year 3000) overflows pandas' nanoseconds.
    return checked.drop(*[c for c in checked.columns if c.startswith((TEXT_TIME, DISORDERED, ZONED))]), flags


def _with_key_checks(schema: CanonicalTable, checked: ir.Table, flags: list[_Flag],
                     references: dict[str, pd.DataFrame], engine: Engine) -> tuple[ir.Table, list[_Flag]]:
    """Duplicates of an earlier row on the key, and ids the referenced table lacks, among rows whose values passed."""
    import ibis

    ok = ~_any([checked[flag.name] for flag in flags])
    checked = checked.mutate(_values_ok=ok)
    tests, new_flags = {}, []
    if schema.key:
        kind = f"duplicate of an earlier row on key {list(schema.key)}"
        earlier = ibis.row_number().over(group_by=[checked[TYPED + c] for c in schema.key] + [checked["_values_ok"]],
                                         order_by=[checked[PART], checked[ROW]])
        tests["_flag_duplicate"] = checked["_values_ok"] & (earlier > 0)
        new_flags.append(_Flag("_flag_duplicate", kind))
    for column, target in schema.references.items():
        if target not in references or column not in checked.columns:
            continue
        key = TABLES[target].key[0]
        known = engine.table(references[target][[key]].dropna().drop_duplicates())
        tests[f"_flag_unknown_{column}"] = checked["_values_ok"] & ~checked[TYPED + column].isin(known[key])
        new_flags.append(_Flag(f"_flag_unknown_{column}", f"{column}: not in {target}", TYPED + column))
    return checked.mutate(**tests), flags + new_flags


def _rejected(table: str, schema: CanonicalTable, fetched: pd.DataFrame, flags: list[_Flag], raw_columns: list[str],
              rejected_references: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``ingest.validate``'s rejected table from the fetched rows: the same reasons, worded the same way."""
    fetched = fetched.reset_index(drop=True)
    # A null among integer ids makes the fetched column float: quote 44, not 44.0.
    fetched = fetched.astype({TYPED + c: "Int64" for c in ID_COLUMNS
                              if TYPED + c in fetched and pd.api.types.is_float_dtype(fetched[TYPED + c])})
    reasons = _Reasons()
    for flag in flags:
        rows = np.flatnonzero(fetched[flag.name].to_numpy(dtype=bool))
        if not len(rows):
            continue
        values = fetched[flag.shown].iloc[rows].tolist() if flag.shown else [None] * len(rows)
        if flag.name.startswith("_flag_unknown_"):
            column = flag.kind.split(":")[0]
            target = schema.references[column]
            why_rejected = _rejection_by_key(rejected_references.get(target))
            entity = target.removesuffix("s")
            ids = id_text(fetched[flag.shown].iloc[rows]).tolist()
            cascaded = [i for i, key in enumerate(ids) if key in why_rejected]
            reasons.add(rows[cascaded], f"{column}: the {entity} was rejected",
                        (f"{column}: {entity} {ids[i]} was rejected ({why_rejected[ids[i]]})" for i in cascaded))
            kept = [i for i, key in enumerate(ids) if key not in why_rejected]
            rows, values = rows[kept], [values[i] for i in kept]
        reasons.add(rows, flag.kind, (f"{flag.kind} (got {_shown(value)})" if flag.shown else flag.kind
                                      for value in values))
    frame = fetched[[c for c in raw_columns if c != PART]]
    # The optional columns a source lacks are in pandas' records too, empty.
    return _rejected_frame(table, frame.assign(**{c: None for c in schema.schema.columns if c not in frame}), reasons)


def _trimmed(text: Any) -> Any:
    """Text without surrounding white space. Not Ibis' ``strip``: on Spark it also strips the letters v and f
    (its '\\v' and '\\f' reach Spark SQL as plain letters), which would change ids."""
    return text.re_replace(r"^\s+|\s+$", "")


def _any(tests: list[Any]) -> Any:
    import ibis

    result = ibis.literal(False)
    for test in tests:
        result = result | test
    return result


def _passes(check: Any, value: Any) -> Any:
    """A pandera built-in check as an Ibis expression (the checks the event tables' schemas use)."""
    stats = check.statistics
    if check.name == "isin":
        return value.isin(list(stats["allowed_values"]))
    if check.name == "greater_than_or_equal_to":
        return value >= stats["min_value"]
    if check.name == "greater_than":
        return value > stats["min_value"]
    if check.name == "less_than_or_equal_to":
        return value <= stats["max_value"]
    if check.name == "in_range":
        low = value >= stats["min_value"] if stats.get("include_min", True) else value > stats["min_value"]
        high = value <= stats["max_value"] if stats.get("include_max", True) else value < stats["max_value"]
        return low & high
    raise ValueError(f"the check {check.error} has no engine form: add it to engine_ingest._passes")


def _id_text(values: Any) -> Any:
    """``ingest.id_text`` on the engine: integral numbers as integers (12.0 → '12'), blank text as missing."""
    import ibis

    if values.type().is_integer():
        return values.cast("string")
    if values.type().is_floating():
        integral = ~values.isnan() & ~values.isinf() & (values == values.floor()) & (values.abs() <= INT64_LIMIT)
        return ibis.cases((integral, values.try_cast("int64").cast("string")), else_=values.cast("string"))
    text = _trimmed(values.cast("string"))
    return ibis.cases((text == "", ibis.null("string")), else_=text)


def _cast_id(values: Any, kind: str) -> tuple[Any, list, Any]:
    """(typed ids, problems, missing), as ``ingest._cast_id``."""
    if kind == "int" and values.type().is_integer():
        return values.cast("int64"), [], values.isnull()
    text = _id_text(values)
    missing = text.isnull()
    lost = [(values.abs() > FLOAT_EXACT, LOST_DIGITS)] if values.type().is_floating() else []
    if kind == "string":
        return text, [(text.contains(REPLACEMENT_CHAR), NOT_UTF8), *lost], missing
    integer = text.re_search(f"^{INT_TEXT}$")
    digits = text.re_replace(r"\.0*$", "")
    cast = digits.try_cast("int64")
    # Integer text that does not fit: what try_cast could not store (over 18 digits only).
    too_big = integer & cast.isnull() & (digits.re_replace(r"^[+-]", "").length() > 18)
    return cast, [(~missing & ~integer, "not an integer id"), (too_big, "does not fit a 64-bit integer id"), *lost
                  ], missing


def _clock_seconds(values: Any) -> Any:
    """``ingest._clock_seconds`` on the engine: clock text as seconds (as text, which ``_cast_number`` reads)."""
    import ibis

    if values.type().is_numeric():
        return values
    text = _trimmed(values.cast("string"))

    def part(pattern: str, index: int) -> Any:
        return text.re_extract(pattern, index).try_cast("float64")

    hms = part(CLOCK_HMS, 1) * 3600 + part(CLOCK_HMS, 2) * 60 + part(CLOCK_HMS, 3)
    ms = part(CLOCK_MS, 1) * 60 + part(CLOCK_MS, 2)
    return ibis.cases((text.re_search(CLOCK_HMS), hms.cast("string")), (text.re_search(CLOCK_MS), ms.cast("string")),
                      else_=text)


def _cast_number(values: Any, integer: bool) -> tuple[Any, list]:
    text = None if values.type().is_numeric() else _trimmed(values.cast("string"))
    numbers = values.cast("float64") if text is None else text.try_cast("float64")
    finite = numbers.notnull() & ~numbers.isnan() & ~numbers.isinf()
    present = values.notnull() & ~(values.isnan() if values.type().is_floating() else False)
    problems = [(present & numbers.isnull(), "not a number"), (numbers.notnull() & ~finite, "not a finite number")]
    if not integer:
        return _where(finite, numbers), problems
    whole = finite & (numbers == numbers.floor())
    fits = whole & (numbers.abs() <= INT64_LIMIT)
    problems += [(finite & ~whole, "not a whole number"), (whole & ~fits, "does not fit a 64-bit integer")]
    return _where(fits, numbers).try_cast("int64"), problems


def _where(condition: Any, value: Any) -> Any:
    import ibis

    return ibis.cases((condition, value), else_=ibis.null(value.type()))


def _cast_time(table: ir.Table, name: str, lower: pd.Timestamp, upper: pd.Timestamp, engine: Engine,
               time_zone: str | None = None) -> tuple[Any, list]:
    """(naive UTC timestamps, problems), as ``ingest._cast_time``: typed times, numbers as :func:`_with_unix_times`
    read them (typed, or written as text), or text as :func:`_with_text_times` read it; times that name no zone
    (other than unix times) are ``time_zone``'s (``ingest.LocalTime``), UTC where it is None."""
    import ibis

    values = table[name]
    window = f"outside the plausible time window {lower:%Y-%m-%d} to {upper:%Y-%m-%d %H:%M}"
    disordered = ibis.literal(False)
    if values.type().is_timestamp():
        stamps = values if values.type().timezone is None else values.cast("timestamp")
        local, implausible = ibis.literal(values.type().timezone is None), ibis.literal(False)
        unreadable = ibis.literal(False)
    else:  # numbers read by _with_unix_times, text by _with_text_times
        is_number, implausible = table[NUMBER + name], table[IMPLAUSIBLE + name]
        local_number, unread_number = table[LOCAL_NUMBER + name], table[UNREAD_NUMBER + name]
        if values.type().is_numeric():
            stamps, local = table[UNIX_TIME + name], is_number & local_number
            unreadable = values.cast("float64").isinf() | unread_number
        else:
            read, disordered = table[TEXT_TIME + name], table[DISORDERED + name]
            stamps = ibis.cases((is_number, table[UNIX_TIME + name]), else_=read)
            local = ibis.cases((is_number, local_number), else_=~table[ZONED + name])
            unreadable = unread_number | (values.notnull() & ~is_number & read.isnull() & ~disordered)
    zone_problems = []
    if time_zone is not None:
        zone = LocalTime.of(time_zone, lower, upper)
        local = local & stamps.notnull()
        stamps = ibis.cases((local, _local_to_utc(stamps, zone)), else_=stamps)
        zone_problems.append((local & stamps.isnull(), zone.why_not))
    outside = implausible | (stamps.notnull() & ((stamps < lower.to_pydatetime()) | (stamps > upper.to_pydatetime())))
    return _where(~outside, stamps), [(unreadable, "not a date or time"), (outside, window),
                                      (disordered, DISORDERED_WHY), *zone_problems]


def _local_to_utc(stamps: Any, zone: LocalTime) -> Any:
    """Naive local times of ``zone`` as naive UTC, null where they lie in none of its stretches, as
    ``LocalTime.to_utc`` gives them in pandas."""
    import ibis

    branches = []
    for start, end, minutes in zip(zone.starts, zone.ends, zone.minutes_ahead):
        if start is not None:  # after a change of the clocks: the times it skipped or lived twice
            branches.append((stamps < start.to_pydatetime(), ibis.null("timestamp")))
        shifted = stamps - ibis.interval(minutes=minutes)
        if end is not None:
            branches.append((stamps < end.to_pydatetime(), shifted))
    return ibis.cases(*branches, else_=shifted) if branches else shifted


def _with_unix_times(table: ir.Table, name: str, lower: pd.Timestamp, upper: pd.Timestamp, engine: Engine
                     ) -> ir.Table:
    """``table`` with what its column ``name`` reads as where it holds numbers (typed, or written as text as a JSON
    export's "1701950400"), in the unit the magnitude of their median suggests, as ``ingest._cast_time`` reads them:
    the naive UTC timestamp (``_unix_time_<name>``), whether it is a finite number (``_number_<name>``), one outside
    [lower, upper] (``_implausible_<name>``), none in that unit (``_unread_number_<name>``: a compact date that is
    none), and whether the unit names no zone (``_local_number_<name>``: Excel's serial dates, compact dates).
    Built in stages: the parts of a compact date, written into one expression, were computed again at each use."""
    import ibis

    values = table[name]
    numbers = (values.cast("float64") if values.type().is_numeric()
               else _trimmed(values.cast("string")).try_cast("float64"))
    table = table.mutate(_numbers=numbers)
    table = table.mutate(_finite=table["_numbers"].notnull() & ~table["_numbers"].isnan() & ~table["_numbers"].isinf())
    numbers, finite = table["_numbers"], table["_finite"]
    magnitude = engine.run(table.filter(finite).aggregate(magnitude=numbers.abs().median()))["magnitude"].iloc[0]
    if magnitude is None or np.isnan(magnitude):  # no number: the other rows' readings stay as they were
        return table.mutate(**{UNIX_TIME + name: ibis.null("timestamp"), NUMBER + name: False,
                               IMPLAUSIBLE + name: False, UNREAD_NUMBER + name: False,
                               LOCAL_NUMBER + name: False}).drop("_numbers", "_finite")
    unit, scale = epoch_unit(magnitude)
    parts = None
    if unit in COMPACT_DATES:
        table = table.mutate(**{f"_part_{i}": part for i, part in enumerate(compact_parts(numbers, unit, scale))})
        numbers, finite, parts = table["_numbers"], table["_finite"], tuple(table[f"_part_{i}"] for i in range(6))
    readable = finite & readable_numbers(numbers, unit, scale, parts)
    seconds = unix_seconds(_where(readable, numbers), unit, scale, parts)
    plausible = readable & (seconds >= lower.timestamp()) & (seconds <= upper.timestamp())
    micros = _where(plausible, unix_micros(_where(plausible, numbers), unit, scale, parts)).cast("int64")
    # Seconds, then the microseconds as an interval: Spark makes timestamps from unix seconds only.
    # DuckDB's to_timestamp gives a TIMESTAMPTZ that Ibis types as naive (so a plain cast to naive is
    # dropped) and that its parquet writer stores with a UTC zone: the two casts make it naive UTC there.
    stamps = ((micros // 1_000_000).as_timestamp("s") + (micros % 1_000_000).as_interval("us")
              ).cast("timestamp('UTC')").cast("timestamp")
    staged = [column for column in table.columns if column in ("_numbers", "_finite") or column.startswith("_part_")]
    return table.mutate(**{UNIX_TIME + name: stamps, NUMBER + name: finite, IMPLAUSIBLE + name: readable & ~plausible,
                           UNREAD_NUMBER + name: finite & ~readable,
                           LOCAL_NUMBER + name: ibis.literal(unit in LOCAL_UNITS)}).drop(*staged)


def _is_text(values: Any) -> bool:
    return not values.type().is_numeric() and not values.type().is_timestamp()


def _with_text_times(table: ir.Table, name: str, times: TimeReading, column: str, engine: Engine) -> ir.Table:
    """``table`` with the timestamps that the text of its column ``name`` reads as (``_text_time_<name>``, null
    where it reads as none), which of its numeric dates only read in the other order (``_disordered_<name>``) and
    which name their zone (``_zoned_<name>``).

    ISO 8601 text, dates with English or Russian month names, dates relative to the export where ``times`` gives
    it, and numeric dates as ``ingest._read_dates`` reads them: one order for the whole column, ``times.dayfirst``
    where the layout gives it, else the one :func:`ingest.numeric_date_order` takes from the column (one
    aggregate on the engine). A zone after the time is read apart (:func:`_with_zones_apart`). Built in stages, each
    reading the columns of the one before: written as one expression, every use of a regex group extracted it
    again (126 kB of SQL, 6.5× slower).
    """
    import ibis

    columns, text = table.columns, _trimmed(table[name].cast("string"))
    if times.exported_at is not None:
        relative = _with_relative_read(table, text, times.export_moment())
        table, text = relative, relative["_relative"]
    zoned = _with_zones_apart(table, text)
    worded = _with_words_read(zoned, zoned["_local"])
    text, words = worded["_text"], worded["_words"]
    groups = ("first", "middle", "year", "hour", "minute", "second", "fraction", "half")
    parts = worded.mutate(_numeric=text.re_search(NUMERIC_DATE_TIME), _year_first=text.re_extract(YEAR_FIRST_DATE, 0),
                          **{f"_{group}": text.re_extract(NUMERIC_DATE_TIME, i) for i, group in enumerate(groups, 1)})
    # 2026/11/30 and 2026.11.30 as ISO 8601's 2026-11-30, which Spark's cast alone reads (DuckDB's reads slashes)
    year_first = parts["_year_first"]
    parts = parts.mutate(_after=parts["_middle"].re_replace(r"\D", ""),  # the number between the separators
                         _iso=ibis.cases((year_first.length() > 0, year_first.translate("./", "--")
                                          + parts["_text"].substr(year_first.length())), else_=parts["_text"]))
    parts = parts.mutate(_iso=_where(parts["_iso"].re_search(ISO_DATE_TIME), parts["_iso"]))
    ahead = parts["_ahead"].as_interval("m")  # the zone's minutes ahead of UTC
    numeric, first, after, year = (parts[f"_{part}"] for part in ("numeric", "first", "after", "year"))
    dayfirst = times.dayfirst
    if dayfirst is None:
        shown = engine.run(parts.filter(numeric).aggregate(
            rows=(~words).cast("int64").sum(), words=words.cast("int64").sum(),
            day_first=(~words & (first.cast("int64") > 12)).cast("int64").sum(),
            month_first=(~words & (after.cast("int64") > 12)).cast("int64").sum(),
            dotted=(~words & (parts["_middle"].substr(0, 1) == ".")).cast("int64").sum())).iloc[0].fillna(0)
        if not shown["rows"] and not shown["words"]:  # ISO 8601 or unreadable: numeric dates' parts not computed
            return parts.select(*columns, **{TEXT_TIME + name: _utc_stamp(parts["_iso"]) - ahead,
                                             DISORDERED + name: ibis.literal(False), ZONED + name: parts["_zoned"]})
        dayfirst = not shown["rows"] or numeric_date_order(
            int(shown["day_first"]), int(shown["month_first"]), int(shown["dotted"]) / int(shown["rows"]), column,
            lambda: engine.run(parts.filter(numeric & ~words).select("_text").limit(1))["_text"].iloc[0])
    dates = parts.mutate(_year=_full_year(year), _clock=_clock_text(parts))

    def stamp(day: Any, month: Any) -> Any:
        return _utc_stamp(dates["_year"] + "-" + month.lpad(2, "0") + "-" + day.lpad(2, "0") + " " + dates["_clock"])

    # Dates in words were rewritten day first, whatever the order of the column's numeric ones.
    day, month = (dates["_first"], dates["_after"]) if dayfirst else (
        ibis.cases((dates["_words"], dates["_first"]), else_=dates["_after"]),
        ibis.cases((dates["_words"], dates["_after"]), else_=dates["_first"]))
    read = dates.mutate(_read=stamp(day, month), _other=stamp(month, day))
    # Numeric dates first: DuckDB's cast reads 1/2/26 as 26 February of the year 1.
    return read.select(*columns, **{
        TEXT_TIME + name: ibis.cases((read["_numeric"], read["_read"]), else_=_utc_stamp(read["_iso"])) - ahead,
        DISORDERED + name: read["_numeric"] & ~read["_words"] & read["_read"].isnull() & read["_other"].notnull(),
        ZONED + name: read["_zoned"]})


def _with_relative_read(table: ir.Table, text: Any, exported_at: pd.Timestamp) -> ir.Table:
    """``table`` with ``text`` as ``_relative``, its dates relative to the export written as the local dates they
    are, as ``ingest.relative_read`` writes them."""
    import ibis

    lower = text.lower()
    found = table.mutate(_original=text, _lower=lower, _day=lower.re_extract(RELATIVE_DAY, 1),
                         _ago=lower.re_search(TIME_AGO), _now=lower.re_search(JUST_NOW),
                         _date=lower.re_extract(YEARLESS_DATE, 1))
    lower, day, ago, date = found["_lower"], found["_day"], found["_ago"], found["_date"]
    count = lower.re_extract(TIME_AGO, 1).strip().try_cast("int64").fill_null(1)
    seconds = count * lower.re_extract(TIME_AGO, 2).substr(0, 3).substitute(AGO_SECONDS, else_=0)
    back = found.mutate(_back=ibis.cases((ago, ibis.literal(exported_at.to_pydatetime()) - seconds.as_interval("s")),
                                         else_=ibis.null("timestamp")))
    at, original = back["_back"], back["_original"]
    time_as_written = original.right(lower.re_extract(RELATIVE_DAY, 2).length())
    # A date without its year: the export's, or the one before where that would put it after the export
    month = date.re_extract("[a-zа-яё]{3}", 0).substitute(MONTH_NUMBERS, else_=0)
    later = month * 100 + date.re_extract(r"\d{1,2}", 0).try_cast("int64") > exported_at.month * 100 + exported_at.day
    year = ibis.cases((later, str(exported_at.year - 1)), else_=str(exported_at.year))
    clock = lower.re_extract(YEARLESS_DATE, 2)
    dated = (original.substr(0, date.length()).re_replace(",$", "") + " " + year
             + ibis.cases((clock.length() > 0, " " + original.right(clock.length())), else_=""))
    return back.select(*table.columns, _relative=ibis.cases(
        (day.length() > 0, day.substitute(relative_days(exported_at)) + time_as_written),
        (ago, _iso_text(at)),
        (back["_now"], exported_at.strftime("%Y-%m-%d %H:%M:%S")),
        (date.length() > 0, dated), else_=original))


def _iso_text(stamps: Any) -> Any:
    """Timestamps as ISO 8601 text to the second, written part by part: strftime's patterns differ by engine, and
    Spark's second is a decimal ("5.000000")."""
    parts = (stamps.year(), stamps.month(), stamps.day(), stamps.hour(), stamps.minute(), stamps.second())
    year, month, day, hour, minute, second = (part.cast("int64").cast("string").lpad(2, "0") for part in parts)
    return year + "-" + month + "-" + day + " " + hour + ":" + minute + ":" + second


def _with_zones_apart(table: ir.Table, text: Any) -> ir.Table:
    """``table`` with ``text`` as ``_local``, the zone after its time of day (``ingest.ZONED_TIME``) taken off, and
    the minutes that zone lies ahead of UTC as ``_ahead`` (0 where none is written, null where the offset cannot be
    one), as ``ingest.zones_apart`` gives them."""
    import ibis

    lower = text.lower()
    found = table.mutate(_original=text, _lower=lower, _zoned=lower.re_search(ZONED_TIME))
    zoned, lower = found["_zoned"], found["_lower"]
    # The zone and the year from the short text the search found (a group of the whole pattern took four times as
    # long to extract), and the text before them in the case written
    tails = found.mutate(_tail=ibis.cases((zoned, lower.re_extract(ZONED_TIME, 0).re_extract(ZONE_TAIL, 0)),
                                          else_=""))
    tail, original = tails["_tail"], tails["_original"]
    parts = tails.mutate(_zone=tail.re_extract(ZONE_TAIL, 1), _local=ibis.cases(
        (zoned, original.substr(0, lower.length() - tail.length()) + tail.re_extract(ZONE_TAIL, 2)), else_=original))
    zone = parts["_zone"]
    hours, minutes = (zone.re_extract(ZONE_OFFSET, group).try_cast("int64").fill_null(0) for group in (2, 3))
    numbers = parts.mutate(_minutes=minutes, _written=ibis.cases(
        (zone.re_extract(ZONE_OFFSET, 1) == "-", -(hours * 60 + minutes)), else_=hours * 60 + minutes)
        + zone.re_extract(f"^({ZONE_NAME})", 1).substitute(ZONE_MINUTES, else_=0))
    ahead = numbers["_written"]
    # Stages, each computed once: the offset's expression written twice below was run twice per row (+1 s in 500,000)
    return numbers.select(*table.columns, _local=numbers["_local"], _zoned=zoned,
                          _ahead=_where((numbers["_minutes"] < 60) & (ahead.abs() <= MAX_ZONE_MINUTES), ahead))


def _with_words_read(table: ir.Table, text: Any) -> ir.Table:
    """``table`` with ``text`` as ``_text``, its dates in words (``ingest.WORDS_DATE``, ``ingest.CTIME_DATE``)
    rewritten as dotted day-first numeric dates with their time of day as written ("Dec 7, 2026 3:04 PM" as
    "7.12.2026 3:04 PM"), flagged in ``_words``.

    Once a row matches, its parts are found by small patterns (the day is its first number, the month its first
    three letters in a row, ...): extracting the groups of the whole pattern took ten times as long.
    """
    import ibis

    named = table.mutate(_text=text, _lower=text.lower())
    lower = named["_lower"]
    named = named.mutate(_in_words=lower.re_search(WORDS_DATE), _in_ctime=lower.re_search(CTIME_DATE))
    words = named["_in_words"] | named["_in_ctime"]
    named = named.mutate(_words=words, _bare=ibis.cases((words, named["_lower"].re_replace(f"^{WEEKDAY}", "")),
                                                        else_=""))
    bare, original = named["_bare"], named["_text"]
    after_year = bare.re_extract(rf"^\D*\d+\D+\d+(?:{RUSSIAN_YEAR})?(.*)$", 1)  # a time, in WORDS_DATE's dates
    # The time of day and zone in the case written (dateutil reads "UTC" and "PM", not "utc"; "pm" and "z" too)
    written_time = ibis.cases((named["_in_ctime"], " " + original.re_extract(r"(\d{1,2}:\d{2}.*\S) +\d{4}$", 1)),
                              # RUSSIAN_AT, and an access log's colon (ingest.LOG_DATE_COLON)
                              else_=original.right(after_year.length()).re_replace("^ [вВ] |^:", " "))
    parts = named.mutate(
        _w_day=bare.re_extract(r"^\D*(\d{1,2})", 1), _w_month=bare.re_extract(r"[a-zа-яё]{3}", 0),
        _w_year=ibis.cases((named["_in_ctime"], bare.right(4)), else_=bare.re_extract(r"^\D*\d+\D+(\d+)", 1)),
        _w_time=written_time)
    month = ibis.cases(*((parts["_w_month"] == start, str(number)) for start, number in MONTH_NUMBERS.items()))
    rewritten = parts["_w_day"] + "." + month + "." + parts["_w_year"] + parts["_w_time"]
    return parts.select(*table.columns, _words=parts["_words"],
                        _text=ibis.cases((parts["_words"], rewritten), else_=parts["_text"]))


def _full_year(year: Any) -> Any:
    """A date's year of two or four digits as four, the two-digit ones as dateutil reads them: this century,
    unless that is 50 years or more ahead."""
    import ibis

    this_year = pd.Timestamp.now().year
    short = year.try_cast("int64") + this_year // 100 * 100
    return ibis.cases((year.length() == 2, ibis.cases((short >= this_year + 50, short - 100), else_=short)),
                      else_=year.try_cast("int64")).cast("string").lpad(4, "0")


def _clock_text(parts: ir.Table) -> Any:
    """The time of day of :func:`_with_text_times`' parts as ISO 8601 text (``10:05:30.25``), midnight
    where none is given; null where the hour cannot be one."""
    import ibis

    hours, half = parts["_hour"].try_cast("int64").fill_null(0), parts["_half"]
    twelve_hour = half.length() > 0
    # Hours the casts would carry over (DuckDB reads 24:00 as the next day) are unreadable, as in pandas.
    hours = ibis.cases((twelve_hour & ((hours < 1) | (hours > 12)), ibis.null("int64")),
                       (twelve_hour, hours % 12 + ibis.cases((half.upper() == "PM", 12), else_=0)),
                       (hours > 23, ibis.null("int64")), else_=hours)
    return (hours.cast("string").lpad(2, "0") + ":" + parts["_minute"].lpad(2, "0") + ":"
            + parts["_second"].lpad(2, "0") + parts["_fraction"].substr(0, 7))  # to the microsecond, as pandas


def _utc_stamp(text: Any) -> Any:
    """ISO 8601 text as a naive UTC timestamp, null where it is not one."""
    return text.try_cast("timestamp('UTC')").cast("timestamp")
