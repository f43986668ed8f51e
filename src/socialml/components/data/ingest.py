"""Source adapters and validation: raw frames in, one canonical table plus its rejected rows out.

A *layout* describes, per canonical table, which raw frames feed it and how their columns map
(see ``conf/base/parameters_ingestion.yml``). Each table spec may hold:

``raw``         a raw frame name, or a mapping raw name → split label (frames are stacked); a frame read from a
                folder of files (Kedro's PartitionedDataset) is its files stacked in name order
``columns``     canonical column → raw column, or a list of raw columns read as one, their texts joined by a space
                (a date and a time exported apart: ``timestamp: [Дата, Время]``; a row with any of them blank has
                none; a part typed as a date and time gives its date)
``keep``        raw columns to keep under their own names (free-form features)
``constants``   canonical column → constant value
``values``      canonical column → {raw value: canonical value}
``generate_id`` canonical id column to number 1..n (for sources without ids)
``labels``      how to build a list column: ``{column, separator}``, ``{column}`` (one label, or a list:
                a Parquet list or a list written as text, "[0, 3]"), or ``{columns, threshold}``
                (multi-hot columns, ``columns: "*"`` = all neither mapped nor kept; a cell that is not a score
                from 0 to 1 rejects its row, and "*" stops on a column of ids or times); ``names`` maps
                label values to names
``likes_from``  ``{column, min}``: every raw row is a view; rows with column ≥ min add a like
``melt``        ``{columns, id, strip, held}``: wide flag columns (1/0, Yes/No, true/false, or counts of units:
                any whole number from 1 is held; ``held`` lists the values that mean held instead; other values
                are read as not held, a warning names those that are no "no" either) → one row per held product
``answers_from_columns`` ``{columns}``: a survey exported one row per respondent and one column per
                question (Google Forms, SurveyMonkey) → one answer per answered cell: the column's header
                is the question's text, its place among these columns (1, 2, ...) the question's id;
                blank cells are questions left unanswered, not answers, and are counted, not kept
``add_ids_from`` ``{raw, column}``: ids present only in another frame (added with empty fields)
``leak_guard``  ``{column, split}``: rows of that split whose column value also occurs in another
                split are rejected (the text would leak into evaluation)
``sample``      ``{rows, seed}``: at most ``rows`` of the accepted rows are kept, drawn at random (each split
                keeps its share, at least one row), in their file order: a corpus too large to embed in an hour
                is tried on a part of it; the report counts the rows left out (``sampled_out``), apart from
                the rejected
``id_types``    id column → ``int`` | ``string`` | ``auto`` (default: integers when the values are,
                strings otherwise; a column that refers to another table takes that table's type)
``checks``      this table's overrides of the ingestion checks (see :class:`Checks`)
``dayfirst``    ``true`` | ``false``: how numeric dates that are not ISO 8601 (07.12.2026, 12/07/2026) order day
                and month; default: one order per column, the one its unambiguous dates (a number above 12)
                show, else day first for dotted dates and month first for others (a warning says so)
``time_zone``   the zone the table's times were written in where they name none (``Europe/Moscow``, ``+03:00``,
                ``MSK``): text times without a zone, typed times without one (a workbook's cells) and Excel's
                serial dates are read as its local time; unix times are UTC whatever it says. Default: UTC
``exported_at`` when the table was exported, in its local time (``2026-12-07 18:30``): dates relative to it, as
                social networks show recent posts ("вчера в 10:00", "today at 3:04 PM", "5 минут назад", "an
                hour ago", "только что"), are counted back from it; without it they are rejected

Every raw row ends in the canonical table or in the rejected table with its reason, and every
check is per row: a reason names the column and the raw value, and a row rejected because the
row it refers to was rejected says which and why. :func:`enforce_checks` then stops the run when
a table has lost too much.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import logging
import re
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, Literal

import numpy as np
import pandas as pd
import pandera.errors as pa_errors

from socialml.components.core.errors import DataStop, SettingsError
from socialml.components.core.parts import typed_options
from socialml.components.data.canonical import (
    CLOCK_HMS,
    CLOCK_MS,
    DURATION_COLUMNS,
    ID_COLUMNS,
    LIST_COLUMNS,
    NOT_UTF8,
    REPLACEMENT_CHAR,
    TABLES,
    CanonicalTable,
)

logger = logging.getLogger(__name__)
# One resolution for text dates read in parts (pandas gives each part its own): years 3000 and 1600 fit it,
# so they are rejected as outside the time window rather than overflowing.
DATE_UNIT = "us"
DISORDERED_WHY = "day and month only read in the other order than the column's dates"
# A numeric date with day and month in either order: 07.12.2026, 12/07/26, 7-12-2026 (then a time, or nothing)
NUMERIC_DATE = r"^(\d{1,2})([./-])(\d{1,2})\2(?:\d{4}|\d{2})(?!\d)"
# Russian month names and weekdays as Russian exports write them ("7 декабря 2026 г.", "пн, 07 дек. 2026 10:00"):
# read as the English names that dateutil reads here and engine_ingest.WORDS_DATE on the engine.
RUSSIAN_MONTHS = (r"янв(?:ар[ья])?|фев(?:р(?:ал[ья])?)?|мар(?:та?)?|апр(?:ел[ья])?|ма[йя]|июн[ья]?|июл[ья]?"
                  r"|авг(?:уста?)?|сен(?:т(?:ябр[ья])?)?|окт(?:ябр[ья])?|ноя(?:б(?:р[ья])?)?|дек(?:абр[ья])?")
RUSSIAN_WEEKDAYS = r"понедельник|вторник|среда|четверг|пятница|суббота|воскресенье|пн|вт|ср|чт|пт|сб|вс"
RUSSIAN_YEAR = r" (?:года|г\.?)"  # "2026 года" and "2026 г." after a date's year (the longer first: matched by parts)
RUSSIAN_AT = " в "  # "7 дек 2026 в 10:00", as VK writes it
# Dates with month names, matched in lower case (Java's (?i) knows no Cyrillic), as dateutil reads English ones (a
# weekday before, ignored as there; "Sept", "7th", "Dec.") and Russian ones translated (_russian_in_english):
# "Dec 7, 2026 3:04 PM", "7 декабря 2026 г. 10:00", "07-Dec-26", RFC 2822's "Mon, 07 Dec 2026 10:00:00 +0000".
# The engine reads these and ctime's (Twitter's) "Mon Dec 07 10:00:00 +0000 2026" as numeric dates day first.
WEEKDAY = rf"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*|{RUSSIAN_WEEKDAYS})\.?,? +"
MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
         rf"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|{RUSSIAN_MONTHS})\.?")
DAY = r"\d{1,2}(?:st|nd|rd|th)?"
WORDS_DATE = (rf"^(?:{WEEKDAY})?(?:{DAY}[ /-]{MONTH}|{MONTH}[ /-]{DAY}),?[ /-](?:\d{{4}}|\d{{2}})(?:{RUSSIAN_YEAR})?"
              rf"(?:(?:[ t:]|, |{RUSSIAN_AT}).*)?$")  # the day and the month either way round, the year, a time
# Apache's and nginx's access logs join the date and the time of day with a colon: "07/Dec/2026:10:00:00 +0300"
LOG_DATE_COLON = rf"(?i)^({DAY}/{MONTH}/\d{{4}}):(?=\d)"
# the month, the day, a time (its zone read apart: ZONED_TIME), the year
CTIME_DATE = rf"^(?:{WEEKDAY})?{MONTH} +\d{{1,2}} +\d{{1,2}}:\d{{2}}(?::\d{{2}}(?:\.\d+)?)? +\d{{4}}$"
# Time zones written after a time of day, as minutes ahead of UTC: UTC and GMT with an offset as people mean it
# ("UTC+3" is three hours ahead; dateutil read it POSIX's way, three behind), Moscow time and Moscow time plus hours
# as Russian regions write it ("МСК+4" is UTC+7), and the abbreviations that name one offset each. Others (CST, IST,
# BST: each names several zones) are not read, in pandas tables and on the engine alike.
ZONE_MINUTES = {"z": 0, "utc": 0, "gmt": 0, "msk": 180, "мск": 180, "wet": 0, "west": 60, "cet": 60, "cest": 120,
                "eet": 120, "eest": 180, "est": -300, "edt": -240, "mst": -420, "mdt": -360, "pst": -480, "pdt": -420,
                "akst": -540, "akdt": -480, "hst": -600, "hkt": 480, "sgt": 480, "awst": 480, "jst": 540, "kst": 540,
                "aest": 600, "aedt": 660, "nzst": 720, "nzdt": 780}
ZONE_NAME = f"(?:{'|'.join(ZONE_MINUTES)})"
ZONE = rf"(?:(?:{ZONE_NAME} ?)?[+-]\d{{1,2}}(?::?\d{{2}})?|{ZONE_NAME})"  # +03:00, -0500, UTC+3, МСК+4, EST
# The offset at the end of a zone, in its brackets or not: "+0300" is 03 and 00, "+3" 3, "+530" 5 and 30
ZONE_OFFSET = r"([+-])(\d{1,2}?):?(\d{2})?\)?$"
# A zone at the end of a date (in brackets or not; before ctime's year): the zone and the year. A region in square
# brackets after it, as Java's ZonedDateTime writes "+03:00[Europe/Moscow]", goes with it: the offset fixes the moment.
ZONE_TAIL = rf" ?\(?({ZONE})\)?(?:\[[a-z_]+(?:/[a-z0-9_+-]+)*\])?( \d{{4}})?$"
# A time of day with a zone after it (searched, not matched: anchored at the start, the search was four times
# slower): the time, the zone and ctime's year. Matched in lower case.
ZONED_TIME = rf"(\d:\d{{2}}(?::\d{{2}}(?:\.\d+)?)?(?: ?[ap]m)?){ZONE_TAIL}"
MAX_ZONE_MINUTES = 14 * 60  # the farthest a zone lies from UTC (Kiribati's +14:00)
# Dates relative to the export, as social networks show recent posts: a day named by its distance from the export
# and a time ("вчера в 10:00", "today at 3:04 PM", "сегодня в 10:00 МСК"), seconds, minutes or hours before it
# ("5 минут назад", "an hour ago", "час назад", "30 секунд назад") or the export's moment ("только что", "just
# now"). Matched in lower case; read where the layout gives exported_at.
RELATIVE_DAYS = {"сегодня": 0, "today": 0, "вчера": 1, "yesterday": 1, "позавчера": 2}
RELATIVE_DAY = rf"^({'|'.join(RELATIVE_DAYS)}),? (?:в |at )?(\d{{1,2}}:\d{{2}}.*)$"
AGO_SECONDS = {"сек": 1, "sec": 1, "мин": 60, "min": 60, "час": 3600, "hou": 3600}  # a unit's first letters → seconds
TIME_AGO = (r"^(\d{1,4} |an? |)(секунд[уы]?|сек\.?|минут[уы]?|мин\.?|час(?:а|ов)?|seconds?|secs?|minutes?|mins?|hours?)"
            r" (?:назад|ago)$")
JUST_NOW = r"^(?:только что|just now)$"
# A date in words without its year, as VK shows this year's posts ("7 дек в 15:04") and Facebook exports them
# ("December 7 at 3:04 PM"): the day and month, then perhaps a time. Its year is the export's, or the one before
# where that would put it after the export.
YEARLESS_DATE = rf"^((?:{DAY}[ -]{MONTH}|{MONTH}[ -]{DAY}),?)(?: (?:в |at )?(\d{{1,2}}:\d{{2}}.*))?$"
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# A month name's first three letters (lower case) → its number
MONTH_NUMBERS = {**{name: number for number, name in enumerate(MONTHS, 1)}, "май": 5, **{
    name: number for number, name in enumerate(
        ("янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"), 1)}}
DECIMAL_COMMA = r"not a number \(got '[-+]?\d+,\d+'\)"  # a rejection of a number such as 4,5
ROW = "_row"  # position of the row in its raw frame
RAW = "_raw"  # name of the raw frame the row came from
LABEL_PROBLEM = "_label_problem"  # why a row's multi-hot label cells are not label scores (None where they are)
INT64_LIMIT = 2**63 - 1
INT_TEXT = r"[+-]?\d+(?:\.0*)?"  # an integer, as text (12, -3, 12.0)
# A float holds every whole number up to 2**53 exactly; an id read as a float beyond it (pandas reads a column of
# long ids with one blank cell as floats) has lost digits, and two ids may have become one.
FLOAT_EXACT = 2**53
LOST_DIGITS = ("read as a float, too long to keep its digits; read its column as text "
               "(load_args: {dtype: {<column>: str}})")
# Ids are read as integers when at least this share are integers (the rest are rejected): string ids
# (UUIDs, hashes, codes) are almost never all digits, while an integer column may hold a few bad values.
INT_ID_MAJORITY = 0.5
HELD_VALUES = ("1", "1.0", "yes", "y", "true")  # what a wide product flag says when the product is held
NOT_HELD = r"0|0\.0|no|n|false|no .*"  # and when it is not ("No internet service", as Telco's files say)
# Numbers read as times, by the magnitude of their median: below 1e6 Excel's serial dates (days since 1899-12-30, the
# fraction the time of day, as a workbook's date cells formatted General are read and exported; as unix seconds they
# would all lie in January 1970), then unix time in seconds, milliseconds, microseconds or nanoseconds.
EPOCH_UNITS = (("excel", 1e6), ("s", 1e11), ("ms", 1e14), ("us", 1e17), ("ns", float("inf")))
# Dates written as one number, year first (20221207, 202212071030, 20221207103005), as data warehouses and some
# platforms' exports keep them: told apart from unix time by their median's size, in the band that the years 1900 to
# 2199 write, where unix time would read August 1970, 1976 or the 2600s. Each unit → its band and the divisor that
# leaves the date (the remainder is the time of day).
COMPACT_DATES = {"yyyymmdd": (1.9e7, 2.2e7, 1), "yyyymmddhhmm": (1.9e11, 2.2e11, 1e4),
                 "yyyymmddhhmmss": (1.9e13, 2.2e13, 1e6)}
LOCAL_UNITS = ("excel", *COMPACT_DATES)  # numbers that name no zone: the layout's time_zone applies
EXCEL_EPOCH = 25569  # 1970-01-01 as an Excel serial date
MS_PER_DAY = 86_400_000


class MissingColumnsError(DataStop):
    """A raw frame lacks columns that the layout maps: the run must stop, not guess."""


class EmptySourceError(DataStop):
    """A raw frame has no rows (or not even a header): the run stops and says so."""


class IngestionStopped(DataStop):
    """A table lost more rows than its checks allow: the run stops at ingestion, naming the table."""


def latest_local_now() -> pd.Timestamp:
    """A day ahead of UTC's clock, naive: no zone's local time now (at most 14 hours ahead) is later."""
    return pd.Timestamp.now(tz="UTC").tz_localize(None) + pd.Timedelta(days=1)


@dataclass(frozen=True)
class Checks:
    """What a table must pass as a whole; ``ingestion.checks`` in parameters, per table ``checks``.

    ``time_min``/``time_max`` bound every timestamp (``time_max`` empty: one day after the run);
    a table stops the run when more than ``max_rejected_share`` of its candidate rows are rejected
    or fewer than ``min_accepted_rows`` are accepted.
    """

    time_min: str = "2000-01-01"
    time_max: str | None = None
    max_rejected_share: float = 0.05
    min_accepted_rows: int = 1

    @classmethod
    def from_config(cls, *configs: dict[str, Any] | None) -> Checks:
        merged: dict[str, Any] = {}
        for config in configs:
            merged.update(config or {})
        unknown = set(merged) - {f.name for f in fields(cls)}
        if unknown:
            raise SettingsError(f"unknown ingestion checks {sorted(unknown)}; known: {[f.name for f in fields(cls)]}")
        checks = cls(**merged)
        if not 0 <= checks.max_rejected_share <= 1:
            raise SettingsError(f"max_rejected_share must be within [0, 1], got {checks.max_rejected_share}")
        return checks

    def time_window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        upper = pd.Timestamp(self.time_max) if self.time_max is not None else latest_local_now()
        return pd.Timestamp(self.time_min), upper


@dataclass(frozen=True)
class TableLayout:
    """The options of one table's layout (see the module's docstring); the nested ones below."""

    raw: str | dict[str, str | None]
    columns: dict[str, Any] | None = None
    keep: list[str] | None = None
    constants: dict[str, Any] | None = None
    values: dict[str, dict[Any, Any]] | None = None
    generate_id: str | None = None
    labels: dict[str, Any] | None = None
    likes_from: dict[str, Any] | None = None
    melt: dict[str, Any] | None = None
    answers_from_columns: dict[str, Any] | None = None
    add_ids_from: dict[str, Any] | None = None
    leak_guard: dict[str, Any] | None = None
    sample: dict[str, Any] | None = None
    id_types: dict[str, Literal["int", "string", "auto"]] | None = None
    checks: dict[str, Any] | None = None
    dayfirst: bool | None = None
    time_zone: str | None = None
    exported_at: str | None = None

    def __post_init__(self) -> None:
        TimeReading(self.dayfirst, self.time_zone, self.exported_at).check()


@dataclass(frozen=True)
class LabelsLayout:
    column: str | None = None
    separator: str | None = None
    names: dict[str | int, str] | None = None
    columns: str | list[str] | None = None
    threshold: float = 0.5
    target: str = "topics"


@dataclass(frozen=True)
class LikesFromLayout:
    column: str
    min: float


@dataclass(frozen=True)
class MeltLayout:
    columns: str | list[str]
    id: str
    strip: str | None = None
    held: list[Any] | None = None


@dataclass(frozen=True)
class AnswersFromColumnsLayout:
    columns: str | list[str]


@dataclass(frozen=True)
class AddIdsLayout:
    raw: str
    column: str


@dataclass(frozen=True)
class LeakGuardLayout:
    column: str
    split: str


@dataclass(frozen=True)
class SampleLayout:
    rows: int
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rows < 1:
            raise ValueError(f"sample rows must be at least 1, got {self.rows}")


NESTED_LAYOUTS = {"labels": LabelsLayout, "likes_from": LikesFromLayout, "melt": MeltLayout,
                  "answers_from_columns": AnswersFromColumnsLayout, "add_ids_from": AddIdsLayout,
                  "leak_guard": LeakGuardLayout, "sample": SampleLayout}


@dataclass(frozen=True)
class TimeReading:
    """How a table's times are read, as its layout says: the order of numeric dates (``dayfirst``; None: each
    column's own, see :func:`_read_dates`), the zone of times that name none (``time_zone``; None: UTC, see
    :class:`LocalTime`) and the moment relative dates count back from (``exported_at``; None: they are rejected)."""

    dayfirst: bool | None = None
    time_zone: str | None = None
    exported_at: str | None = None

    @classmethod
    def of(cls, spec: dict[str, Any]) -> TimeReading:
        return cls(spec.get("dayfirst"), spec.get("time_zone"), spec.get("exported_at"))

    def check(self) -> None:
        """A ValueError for a zone that is none, or an export time that is not a local date and time."""
        if self.time_zone is not None:
            LocalTime.of(self.time_zone, pd.Timestamp("2000-01-01"), pd.Timestamp("2000-01-02"))
        if self.exported_at is not None:
            self.export_moment()

    def export_moment(self) -> pd.Timestamp:
        try:
            moment = pd.Timestamp(self.exported_at)
        except ValueError:
            raise ValueError(f"exported_at {self.exported_at!r} is not a date and time (2026-12-07 18:30)") from None
        if moment.tz is not None:
            raise ValueError(f"exported_at {self.exported_at!r} names a zone: give it in the table's local time "
                             f"(its time_zone, UTC by default), as the relative dates were shown")
        if moment > latest_local_now():
            raise ValueError(f"exported_at {self.exported_at!r} is after this run: it is when the file was "
                             f"exported, which relative dates count back from")
        return moment


def check_table_layout(what: str, table: str, spec: dict[str, Any]) -> None:
    """A ValueError naming ``what`` and the option for a misspelt, missing or mistyped layout option, or a
    canonical column ``table`` does not have, before anything runs: a misspelt ``lables`` would otherwise
    leave the posts without topics, and ``columns: {text: ...}`` (posts' text is ``doc_text``) without text."""
    _check_layout(what, TableLayout, spec)
    for option, layout in NESTED_LAYOUTS.items():
        if spec.get(option) is not None:
            _check_layout(f"{what} {option}", layout, spec[option])
    _check_canonical_names(what, table, spec)
    for canonical, source in (spec.get("columns") or {}).items():
        if not isinstance(source, str) and not (isinstance(source, list) and len(source) >= 2
                                                and all(isinstance(part, str) for part in source)):
            raise SettingsError(f"{what} columns: {canonical} must be a raw column's name or a list of two or more "
                                f"names (read as one, joined by a space), got {source!r}")
    labels = spec.get("labels") or {}
    if labels and ("column" in labels) == ("columns" in labels):
        raise SettingsError(f"{what} labels: give `column` (one column of labels) or `columns` (multi-hot columns), "
                            f"not {'both' if 'column' in labels else 'neither'}")
    Checks.from_config(spec.get("checks"))


def _check_canonical_names(what: str, table: str, spec: dict[str, Any]) -> None:
    canonical = list(TABLES[table].schema.columns)
    labels = spec.get("labels") or {}
    named = {"columns": list(spec.get("columns") or {}), "constants": list(spec.get("constants") or {}),
             "id_types": list(spec.get("id_types") or {}),
             "generate_id": [spec["generate_id"]] if spec.get("generate_id") else [],
             "labels target": [labels["target"]] if "target" in labels else []}
    for option, names in named.items():
        if unknown := [name for name in names if name not in canonical]:
            raise SettingsError(f"{what} {option} names {unknown}, not a column of {table}: its columns are "
                                f"{canonical} (a raw column kept under its own name goes in `keep`)")
    mapped = set(canonical) | set(spec.get("keep") or [])
    if unknown := [name for name in spec.get("values") or {} if name not in mapped]:
        raise SettingsError(f"{what} values names {unknown}, neither a column of {table} ({canonical}) nor a kept one")


def _check_layout(what: str, layout: type, options: dict[str, Any]) -> None:
    missing = [f.name for f in fields(layout) if f.default is MISSING and f.name not in options]
    if missing:
        raise SettingsError(f"{what} lacks {missing}; its options are {[f.name for f in fields(layout)]}")
    typed = typed_options(what, layout, options)  # its errors name the layout already
    try:
        layout(**typed)
    except ValueError as invalid:  # a value out of range (sample rows 0), said where the layout is
        raise SettingsError(f"{what}: {invalid}") from None


def adapt(table: str, spec: dict[str, Any], raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Map raw frames into the canonical column names of ``table`` (no validation yet)."""
    frames, questions = [], {}  # questions: a wide survey's question columns, in order of first sight
    for raw_name, split in _raw_sources(spec).items():
        if raw_name not in raw:
            raise KeyError(f"{table}: raw frame '{raw_name}' is not an input (have {sorted(raw)})")
        frame = raw[raw_name]
        if frame.shape[1] == 0:
            raise EmptySourceError(f"{table}: raw frame '{raw_name}' is empty: no header and no rows")
        if len(frame) == 0:
            raise EmptySourceError(f"{table}: raw frame '{raw_name}' has a header but no rows ({list(frame.columns)})")
        _require_columns(table, raw_name, frame, _columns_used(spec, frame))
        adapted = _map_columns(spec, frame)
        if "answers_from_columns" in spec:
            questions.update(dict.fromkeys(_wide_columns(spec, frame)))
        adapted[RAW] = raw_name
        adapted[ROW] = np.arange(len(frame))
        if split is not None:
            adapted["split"] = split
        frames.append(adapted)
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if "melt" in spec:
        out = _melt(spec["melt"], out, spec.get("keep", []))
    if "answers_from_columns" in spec:
        out = _answers_from_columns(table, list(questions), out)
    if "likes_from" in spec:
        out = _likes_from(spec["likes_from"], out)
    if "generate_id" in spec:
        out[spec["generate_id"]] = np.arange(1, len(out) + 1)
    if "add_ids_from" in spec:
        out = _add_ids(spec["add_ids_from"], out, raw, table)
    return _complete(table, out)


def partition_frames(table: str, name: str, partitions: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """A raw frame read from a folder of files (Kedro's ``PartitionedDataset``: partition id → its loader) as one
    frame per file, named ``<frame>/<partition>``, in the partitions' name order, numbers by their value
    (``2025-2`` before ``2025-10``: a log split by month, in date order where its files are named by date)."""
    frames = {}
    for partition, load in sorted(partitions.items(), key=lambda item: _natural_order(item[0])):
        try:
            frames[f"{name}/{partition}"] = load() if callable(load) else load
        except Exception as unreadable:  # a file of no bytes: pandas finds no columns
            raise DataStop(f"{table}: raw frame '{name}': its file '{partition}' cannot be read "
                           f"({type(unreadable).__name__}: {unreadable})") from unreadable
    # A file with a header alone is a day or a month without rows, not a damaged source: nothing to stack.
    files = {file: frame for file, frame in frames.items() if len(frame)}
    if len(files) < len(frames):
        logger.info("%s: raw frame '%s': %d of its %d files have no rows", table, name, len(frames) - len(files),
                    len(frames))
    if not files:
        raise EmptySourceError(f"{table}: raw frame '{name}' is a folder of {len(frames)} files without rows")
    return files


def _natural_order(name: str) -> list[tuple[int, int | str]]:
    """A key that sorts names with numbers by the numbers' values: part_2 before part_10."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part]


def expand_partitions(table: str, spec: dict[str, Any], raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``spec`` and ``raw`` with each raw frame read from a folder of files (:func:`partition_frames`) in its
    files' place: they are stacked in that order, each with its split, and a rejected row names its file."""
    folders = {name: partition_frames(table, name, frames)
               for name, frames in raw.items() if isinstance(frames, Mapping)}
    if not folders:
        return spec, raw
    if (spec.get("add_ids_from") or {}).get("raw") in folders:
        raise SettingsError(f"{table}: add_ids_from reads one file; raw frame '{spec['add_ids_from']['raw']}' is a "
                            f"folder of {len(folders[spec['add_ids_from']['raw']])}")
    sources: dict[str, str | None] = {}
    for name, split in _raw_sources(spec).items():
        sources |= dict.fromkeys(folders.get(name, [name]), split)
    files = {name: frame for name, frame in raw.items() if name not in folders}
    for frames in folders.values():
        files |= frames
    return {**spec, "raw": sources}, files


def stacked_partitions(table: str, name: str, partitions: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.Series]:
    """A folder's files (:func:`partition_frames`) as one frame, and the row each file starts at there (by file
    name), for :func:`rows_in_files`."""
    frames = partition_frames(table, name, partitions)
    starts = pd.Series(np.cumsum([0, *map(len, frames.values())])[:-1], index=list(frames), dtype="int64")
    return pd.concat(frames.values(), ignore_index=True), starts


def rows_in_files(rejected: pd.DataFrame, starts: pd.Series) -> pd.DataFrame:
    """Rejected rows of :func:`stacked_partitions`' frame, each naming its file and its row there."""
    files = starts.index[np.searchsorted(starts.to_numpy(), rejected["row"].to_numpy(), side="right") - 1]
    return rejected.assign(raw=list(files), row=rejected["row"].to_numpy() - starts[files].to_numpy())


def _raw_sources(spec: dict[str, Any]) -> dict[str, str | None]:
    raw = spec["raw"]
    return dict(raw) if isinstance(raw, dict) else {raw: None}


def _label_columns(labels: dict[str, Any], frame: pd.DataFrame, mapped: set[str]) -> list[str]:
    columns = labels["columns"]
    if columns == "*":
        return [c for c in frame.columns if c not in mapped]
    return list(columns)


def mapped_columns(spec: dict[str, Any]) -> list[str]:
    """The raw columns a layout's ``columns`` read (each part of a joined one) and those it keeps."""
    sources = [[source] if isinstance(source, str) else source for source in (spec.get("columns") or {}).values()]
    return [column for parts in sources for column in parts] + list(spec.get("keep") or [])


def _columns_used(spec: dict[str, Any], frame: pd.DataFrame) -> list[str]:
    used = mapped_columns(spec)
    labels = spec.get("labels")
    if labels:
        used += [labels["column"]] if "column" in labels else _label_columns(labels, frame, set(used))
    if "likes_from" in spec:
        used.append(spec["likes_from"]["column"])
    if "melt" in spec:
        used += _product_columns(spec, frame)
    if "answers_from_columns" in spec:
        used += _wide_columns(spec, frame)
    return used


def _require_columns(table: str, raw_name: str, frame: pd.DataFrame, needed: list[str]) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        # One column whose name holds a separator: the file is split by something other than the reader's.
        only = str(frame.columns[0]) if len(frame.columns) == 1 else ""
        separator = next((sep for sep in (";", "\t", "|") if sep in only), None)
        hint = (f" Its one column's name holds {separator!r}: give the file's catalog entry load_args: "
                f"{{sep: {separator!r}}}." if separator else "")
        # 'user_id ' or 'User_ID' in the header: name it in the layout as the file spells it
        alike = {m: c for m in missing for c in map(str, frame.columns) if c.strip().lower() == m.strip().lower()}
        hint += "".join(f" The file spells {m!r} as {c!r}." for m, c in alike.items())
        raise MissingColumnsError(
            f"{table}: raw frame '{raw_name}' lacks required column(s) {missing}; "
            f"it has {list(frame.columns)}.{hint} Fix the file or the layout in parameters_ingestion.yml."
        )


def _map_columns(spec: dict[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    mapping: dict[str, str | list[str]] = spec.get("columns", {})
    out = pd.DataFrame({canonical: frame[source] if isinstance(source, str) else _joined(frame[source])
                        for canonical, source in mapping.items()}, index=frame.index)
    for column in spec.get("keep", []):
        out[column] = frame[column]
    for column, value in spec.get("constants", {}).items():
        out[column] = value
    for column, value_map in spec.get("values", {}).items():
        # Keys from YAML may be ints or strings; match on the string form of both.
        lookup = {str(k): v for k, v in value_map.items()}
        original = out[column]
        mapped = id_text(original).map(lookup)  # 1.0, read so for a gap in the column, is the key 1
        # Unmapped values stay visible to validation as-is, so they are rejected with their value.
        out[column] = mapped.astype(object).where(mapped.notna(), original.astype(object))
    labels = spec.get("labels")
    if labels:
        lists, problems = _labels(labels, frame, set(mapped_columns(spec)))
        out["topics" if "target" not in labels else labels["target"]] = lists
        if problems.notna().any():
            out[LABEL_PROBLEM] = problems
    if "melt" in spec:
        for column in _product_columns(spec, frame):
            out[column] = frame[column]
    if "answers_from_columns" in spec:
        for column in _wide_columns(spec, frame):
            out[column] = frame[column]
    if "likes_from" in spec:
        out["_score"] = frame[spec["likes_from"]["column"]]
    return out.reset_index(drop=True)


def _joined(parts: pd.DataFrame) -> pd.Series:
    """Raw columns read as one: their texts joined by a space ("07.12.2026" and "10:00" as "07.12.2026 10:00"),
    missing where any part is blank (a date without its time is not midnight). A part typed as a date and time,
    as Excel's dates are read, gives its date."""
    texts = [parts.iloc[:, i].dt.strftime("%Y-%m-%d") if pd.api.types.is_datetime64_any_dtype(parts.iloc[:, i])
             else id_text(parts.iloc[:, i]) for i in range(parts.shape[1])]
    joined = texts[0].astype("string")
    for text in texts[1:]:
        joined = joined + " " + text.astype("string")
    return joined.astype(object).where(joined.notna(), None)


def _labels(labels: dict[str, Any], frame: pd.DataFrame, mapped: set[str]) -> tuple[pd.Series, pd.Series]:
    """Each row's labels, and why a row's multi-hot cells are not label scores (None where they are)."""
    problems = pd.Series(None, index=frame.index, dtype=object)
    if "column" in labels:
        separator, names = labels.get("separator"), {str(k): str(v) for k, v in labels.get("names", {}).items()}
        lists = [[names.get(label, label) for label in _label_list(value, separator)] for value in frame[labels["column"]]]
        return pd.Series(lists, index=frame.index, dtype=object), problems
    columns = _label_columns(labels, frame, mapped)
    cells = frame[columns]
    numbers = cells.apply(pd.to_numeric, errors="coerce")
    blank = cells.isna() | cells.apply(lambda column: column.astype("string").str.strip().eq("")).fillna(True)
    odd = ~blank & ~((numbers >= 0) & (numbers <= 1))
    if labels["columns"] == "*":  # a column taken by "*" that holds ids or times is not a label column
        for column in columns:
            if odd[column].sum() > 0.5 * (~blank[column]).sum():
                raise MissingColumnsError(
                    f"labels columns '*' took '{column}', whose values are not label scores from 0 to 1 (e.g. "
                    f"{_shown(cells.loc[odd[column], column].iloc[0])}): list the label columns, or `keep` it")
    for position in np.flatnonzero(odd.to_numpy().any(axis=1)):
        row = odd.iloc[position]
        problems.iloc[position] = "; ".join(f"{column}: not a label score from 0 to 1 (got "
                                            f"{_shown(cells.iloc[position][column])})" for column in row.index[row])
    hot = numbers.where(~odd).fillna(0).to_numpy() >= labels.get("threshold", 0.5)
    names = np.array(columns)
    return pd.Series([list(names[row]) for row in hot], index=frame.index, dtype=object), problems


def _label_list(value: Any, separator: str | None) -> list[str]:
    """One cell's labels: a list (a Parquet list column), a list written as text ("[0, 3]", "['joy']", as
    Hugging Face data sets export them to CSV), a separator-joined string, or one label."""
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(value)
    elif pd.isna(value):
        items = []
    elif isinstance(value, float):
        items = [value]
    else:
        text = str(value).strip()
        items = _parse_list(text) if text.startswith("[") and text.endswith("]") else None
        if items is None:
            items = text.split(separator) if separator else [text]
    # A label column read with missing values is float: 3.0 is label "3".
    as_text = (str(int(item)) if isinstance(item, float) and item.is_integer() else str(item) for item in items)
    return [label for label in (form.strip() for form in as_text) if label]


def _parse_list(text: str) -> list[Any] | None:
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError, RecursionError):
        return None
    return list(parsed) if isinstance(parsed, (list, tuple)) else None


def _melt_columns(melt: dict[str, Any], frame: pd.DataFrame) -> list[str]:
    pattern = melt["columns"]
    if isinstance(pattern, str):
        return [c for c in frame.columns if fnmatch.fnmatch(c, pattern)]
    return list(pattern)


def _product_columns(spec: dict[str, Any], frame: pd.DataFrame) -> list[str]:
    """The wide product flag columns a ``melt`` names, less those the layout maps or keeps (a pattern such as
    ``*e*`` would match the client id's column too)."""
    mapped = set(mapped_columns(spec))
    return [c for c in _melt_columns(spec["melt"], frame) if c not in mapped]


def _wide_columns(spec: dict[str, Any], frame: pd.DataFrame) -> list[str]:
    """A wide survey's question columns in the file's order (``"*"``: every column the layout does not map or
    keep); a rule that matches none stops."""
    rule = spec["answers_from_columns"]
    mapped = set(mapped_columns(spec))
    columns = [c for c in _melt_columns(rule, frame) if c not in mapped]
    if not columns:
        raise MissingColumnsError(f"answers_from_columns: no question column matches {rule['columns']!r} among "
                                  f"{list(frame.columns)}")
    return columns


def _answers_from_columns(table: str, questions: list[str], frame: pd.DataFrame) -> pd.DataFrame:
    """One row per respondent and question column → one row per answered cell (see the module's docstring)."""
    frame = frame.reindex(columns=[*dict.fromkeys([*frame.columns, *questions])])  # a stacked file may lack some
    kept = [c for c in frame.columns if c not in questions]
    long = frame.melt(id_vars=kept, value_vars=questions, var_name="question_text", value_name="answer_text")
    long["question_id"] = long["question_text"].map({q: i for i, q in enumerate(questions, start=1)})
    answered = long["answer_text"].notna() & long["answer_text"].astype("string").str.strip().ne("")
    logger.info("%s: %d answers from %d question columns; %d cells left blank (unanswered)", table,
                int(answered.sum()), len(questions), int((~answered).sum()))
    return long[answered.to_numpy()].sort_values([RAW, ROW], kind="stable", ignore_index=True)


def _melt(melt: dict[str, Any], frame: pd.DataFrame, kept: list[str]) -> pd.DataFrame:
    """Wide product flag columns → one row per (client, product held)."""
    product_columns = [c for c in frame.columns if c not in (melt["id"], RAW, ROW, "since", "split", *kept)]
    long = frame.melt(id_vars=[melt["id"], RAW, ROW, *(["since"] if "since" in frame else [])],
                      value_vars=product_columns, var_name="product_id", value_name="_held")
    flags = long["_held"].astype("string").str.strip().str.lower()
    held = flags.isin([str(v).lower() for v in melt.get("held", HELD_VALUES)]).fillna(False)
    if "held" not in melt:
        counts = pd.to_numeric(long["_held"], errors="coerce")
        held |= counts.ge(1) & counts.mod(1).eq(0)  # a flag of 1, or a count of units (2 accounts, 3 cards)
        unread = ~held & flags.notna() & flags.ne("") & ~flags.str.fullmatch(NOT_HELD).fillna(False)
        if unread.any():  # a column of kinds ("DSL", "Fiber optic"), not of flags: said, not dropped in silence
            values = long.loc[unread.to_numpy()].groupby("product_id")["_held"].agg(
                lambda v: ", ".join(f"{_shown(value)} × {count}" for value, count in v.value_counts().head(3).items()))
            logger.warning("holdings: %s read as not held, being neither a yes nor a no; `melt.held` lists the "
                           "values that mean held", "; ".join(f"{column}: {text}" for column, text in values.items()))
    pattern = melt.get("strip")
    if pattern:
        long["product_id"] = long["product_id"].str.replace(pattern, "", regex=True)
    return long[held.to_numpy()].drop(columns="_held").sort_values([RAW, ROW], kind="stable", ignore_index=True)


def _likes_from(rule: dict[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """Explicit ratings as implicit feedback: each row is a view; high ratings are also likes."""
    score = pd.to_numeric(frame["_score"], errors="coerce")
    views = frame.assign(action="view")
    likes = frame[score >= rule["min"]].assign(action="like")
    return pd.concat([views, likes], ignore_index=True).drop(columns="_score")


def _add_ids(rule: dict[str, Any], frame: pd.DataFrame, raw: dict[str, pd.DataFrame], table: str) -> pd.DataFrame:
    """Rows for ids that only another frame has: raw values, validated like every other row.

    Each distinct id not already in the table becomes one candidate row (a missing id one row
    each, so it is rejected and counted); ids the table has are references, not new rows.
    """
    extra_frame = raw[rule["raw"]]
    _require_columns(table, rule["raw"], extra_frame, [rule["column"]])
    key = TABLES[table].key[0]
    ids = extra_frame[rule["column"]].reset_index(drop=True)
    text = id_text(ids)
    new = (~text.isin(set(id_text(frame[key]).dropna())) & ~text.duplicated()) | text.isna()
    extra = pd.DataFrame({key: ids[new].astype(object).to_numpy(), RAW: rule["raw"],
                          ROW: np.flatnonzero(new.to_numpy())})
    return pd.concat([frame.astype({key: object}), extra], ignore_index=True)


def _complete(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Add the optional canonical columns a source does not have: their default, else empty."""
    schema, defaults = TABLES[table].schema, TABLES[table].defaults
    for name, column in schema.columns.items():
        if name in frame:
            if name in LIST_COLUMNS:  # rows added without labels (add_ids_from) get an empty list
                frame[name] = frame[name].map(lambda v: v if isinstance(v, list) else [])
            continue
        if name in LIST_COLUMNS:
            frame[name] = pd.Series([[] for _ in range(len(frame))], index=frame.index, dtype=object)
        elif name in defaults:
            frame[name] = defaults[name]
        elif column.required:
            raise MissingColumnsError(f"{table}: the layout maps no column to required '{name}'")
        else:
            frame[name] = pd.Series(pd.NA, index=frame.index, dtype=object)
    return frame


class _Reasons:
    """Why each rejected row (by index) was rejected: ``kind`` groups reasons, ``text`` names the value."""

    def __init__(self) -> None:
        self.by_row: dict[int, list[tuple[str, str]]] = {}

    def add(self, rows, kind: str, texts) -> None:
        for row, text in zip(rows, texts):
            self.by_row.setdefault(int(row), []).append((kind, text))

    def flag(self, frame: pd.DataFrame, mask, column: str, why: str) -> None:
        positions = np.flatnonzero(np.asarray(mask, dtype=bool))
        values = frame[column].iloc[positions].tolist()
        self.add(frame.index[positions], f"{column}: {why}", (f"{column}: {why} (got {_shown(v)})" for v in values))

    def rows(self) -> list[int]:
        return sorted(self.by_row)


def _shown(value: Any) -> str:
    """A raw value as a reason quotes it: 3, 'abc', 200.0 (numpy scalars as plain Python values)."""
    if value is None or (np.ndim(value) == 0 and pd.isna(value)):
        return "None"
    return repr(value.item() if isinstance(value, np.generic) else value)


def validate(
    table: str,
    frame: pd.DataFrame,
    references: dict[str, pd.DataFrame] | None = None,
    leak_guard: dict[str, str] | None = None,
    id_types: dict[str, str] | None = None,
    checks: Checks | None = None,
    rejected_references: dict[str, pd.DataFrame] | None = None,
    times: TimeReading = TimeReading(),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split an adapted frame into (accepted canonical rows, rejected rows with reasons).

    ``references`` are the accepted tables this one's foreign keys point to, ``rejected_references``
    their rejected rows (so a row pointing at a rejected row says why that one went); ``times`` says how the
    layout's times are read.
    """
    spec = TABLES[table]
    references = references or {}
    reasons = _Reasons()
    types = resolve_id_types(spec, frame, references, id_types or {})
    typed = _coerce(spec, frame, types, checks or Checks(), reasons, times)
    if LABEL_PROBLEM in frame:
        odd = frame[LABEL_PROBLEM].notna()
        reasons.add(frame.index[odd], "labels: not a label score from 0 to 1", frame.loc[odd, LABEL_PROBLEM])
    # pandera runs the value checks; rows that fail are collected, not raised. With every row rejected already
    # there is nothing to check (and an empty frame's untyped optional columns would fail pandera's dtypes).
    checkable = typed[~typed.index.isin(reasons.rows())]
    try:
        if len(checkable):
            spec.schema.validate(checkable, lazy=True)
    except pa_errors.SchemaErrors as errors:
        _collect_failures(errors.failure_cases, reasons, table)
    ok = ~frame.index.isin(reasons.rows())
    _reject_duplicates(spec, typed, ok, reasons)
    _reject_dangling(spec, typed, references, rejected_references or {}, ok, reasons)
    if leak_guard:
        _reject_leaks(typed, leak_guard, ok, reasons)
    accepted = typed[~typed.index.isin(reasons.rows())]
    if len(accepted):
        accepted = spec.schema.validate(accepted, lazy=False)
    accepted = accepted.drop(columns=[RAW, ROW, LABEL_PROBLEM], errors="ignore").reset_index(drop=True)
    return accepted, _rejected_frame(table, frame, reasons)


def sample_rows(frame: pd.DataFrame, sample: dict[str, Any]) -> pd.DataFrame:
    """At most ``sample['rows']`` rows of ``frame`` drawn at random, in their order; each split keeps its share
    (rounded down, at least one row), so a source's own test split stays a test split."""
    options = SampleLayout(**typed_options("sample", SampleLayout, sample))  # rows: "10000" in YAML is 10000
    if len(frame) <= options.rows:
        return frame
    share = options.rows / len(frame)
    rng = np.random.default_rng(options.seed)
    splits = (frame.groupby("split", sort=False, dropna=False).indices.values() if "split" in frame
              else [np.arange(len(frame))])
    drawn = [rng.choice(rows, size=max(1, int(len(rows) * share)), replace=False) for rows in splits]
    return frame.iloc[np.sort(np.concatenate(drawn))].reset_index(drop=True)


def enforce_checks(table: str, candidates: int, accepted: int, rejected: pd.DataFrame, checks: Checks,
                   rejected_rows: int | None = None) -> None:
    """Stop the run when a table lost more than its checks allow, naming its commonest reasons.

    ``rejected`` holds the rejected rows, or the first of them when ``rejected_rows`` says how many there are.
    """
    rejected_rows = len(rejected) if rejected_rows is None else rejected_rows
    share = rejected_rows / candidates if candidates else 0.0
    problems = []
    if share > checks.max_rejected_share:
        problems.append(f"{rejected_rows:,} of {candidates:,} rows rejected ({share:.1%}, "
                        f"more than max_rejected_share {checks.max_rejected_share:.1%})")
    if accepted < checks.min_accepted_rows:
        problems.append(f"{accepted:,} rows accepted (fewer than min_accepted_rows {checks.min_accepted_rows})")
    if not problems:
        return
    kinds = Counter(kind for kinds in rejected.get("kinds", pd.Series(dtype=object)) for kind in kinds)
    top = "; ".join(f"'{kind}' × {count:,}" for kind, count in kinds.most_common(3)) or "none"
    examples = "\n".join(f"  {r.raw} row {r.row}: {r.reason} {r.record}" for r in rejected.head(2).itertuples())
    raise IngestionStopped(
        f"ingestion of '{table}' stopped: {' and '.join(problems)}.\nMost frequent reasons: {top}.\n"
        f"Examples:\n{examples or '  (no rejected rows)'}\n{_reading_hints(kinds, rejected)}"
        f"Fix the source or the layout, or relax ingestion.checks for this table in parameters_ingestion.yml."
    )


def _reading_hints(kinds: Counter, rejected: pd.DataFrame) -> str:
    """What to change, where the commonest reasons are those of a file read with the wrong options (a whole
    file in another encoding: Excel's Russian CSVs are cp1251; numbers with a decimal comma) or of a column
    whose values the layout does not map yet (gender as F / M)."""
    top = [kind for kind, _ in kinds.most_common(3)]
    reasons = rejected.get("reason", pd.Series(dtype=str))
    hints = []
    if any(kind.endswith(NOT_UTF8) for kind in top):
        hints.append(f"Rows with {NOT_UTF8} usually mean a file in another encoding: give its catalog entry "
                     f"load_args: {{encoding: cp1251}} (or the file's own encoding).")
    if any(kind.endswith("not a number") for kind in top) and reasons.str.contains(DECIMAL_COMMA, regex=True).any():
        hints.append("Numbers such as '4,5' have a decimal comma: give the file's catalog entry "
                     "load_args: {decimal: ','} (with sep: ';' where the file is split by semicolons).")
    if "timestamp: not a date or time" in top:  # an event log's, read on the engine
        example = reasons.str.extract(r"timestamp: not a date or time \(got (.*?)\)(?:;|$)")[0].dropna().head(1)
        hints.append(f"Event logs' timestamps such as {''.join(example)} are read on the engine, which takes ISO 8601 "
                     f"(2024-12-07 10:00), numeric dates (07.12.2024 10:00, 12/7/24 3:04 PM), month names "
                     f"(Dec 7, 2024 3:04 PM; 7 дек. 2024 г. 10:00), a zone after the time (+03:00, UTC+3, МСК, EST; "
                     f"not CST, IST or Europe/Moscow), unix times, Excel's serial dates and dates as one number "
                     f"(20241207): write them in one of those.")
    outside = any("outside the plausible time window" in kind for kind in top)
    number = r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?"  # not a date such as '3000-01-01'
    numbers = (reasons.str.extract(rf"outside the plausible time window [^(]*\(got '?({number})'?\)")[0].dropna()
               if outside else pd.Series(dtype=str))
    if len(numbers):
        hints.append(f"Times given as numbers ({numbers.iloc[0]}) are read by their median's size: Excel's serial dates "
                     f"below a million, dates written as one number year first (20241207, 202412071030, "
                     f"20241207103005), else unix time in seconds to nanoseconds. Read so they lie outside the time "
                     f"window: write them as ISO 8601 text (2024-12-07 10:00), or widen ingestion.checks time_min "
                     f"and time_max where such dates are real.")
    unread = (reasons.str.extract(r"not a date or time \(got '(.*?)'\)")[0].dropna().str.lower()
              if any(kind.endswith("not a date or time") for kind in top) else pd.Series(dtype=str))
    if unread.str.match("|".join(f"(?:{form})" for form in (RELATIVE_DAY, TIME_AGO, JUST_NOW, YEARLESS_DATE))).any():
        hints.append("Dates such as 'вчера в 10:00', '5 минут назад' or '7 дек в 15:04' (no year) count back from when "
                     "the file was exported: give the table's layout exported_at: '2026-12-07 18:30' (that moment, in "
                     "the table's local time).")
    for kind in top:
        if unmapped := re.fullmatch(r"(\w+): fails isin\((.*)\)", kind):
            column, allowed = unmapped.groups()
            seen = reasons.str.extract(rf"(?:^|; ){column}: fails isin\(.*?\) \(got (.*?)\)(?:;|$)")[0].dropna()
            values = ", ".join(f"{value}: ..." for value in seen.unique()[:10])
            hints.append(f"The file's values of {column} are not among {allowed}: map them in the table's layout, "
                         f"values: {{{column}: {{{values}}}}}.")
    return "".join(hint + "\n" for hint in hints)


def id_text(values: pd.Series) -> pd.Series:
    """Ids as the text a person would write them (12.0 → '12'), missing and blank ones as NA.

    The same id read as 12, 12.0 or ' 12' from different files compares equal in this form.
    """
    if pd.api.types.is_bool_dtype(values):
        return values.astype("string")
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.astype("float64")
        integral = np.isfinite(numbers) & (numbers % 1 == 0) & (numbers.abs() <= INT64_LIMIT)
        if pd.api.types.is_integer_dtype(values):
            return values.astype("string")
        text = values.astype("string")
        return text.mask(integral, numbers[integral].astype("int64").astype("string"))
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def infer_id_type(values: pd.Series) -> str:
    """``int`` when most ids are integers and none has a leading zero, else ``string``."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return "int"
    text = id_text(values).dropna()
    if text.empty:
        return "int"
    integer = text.str.fullmatch(INT_TEXT).fillna(False)
    if text[integer].str.match(r"[+-]?0\d").any():  # '007' and '7' are different ids
        return "string"
    return "int" if integer.mean() >= INT_ID_MAJORITY else "string"


def resolve_id_types(spec: CanonicalTable, frame: pd.DataFrame, references: dict[str, pd.DataFrame],
                     declared: dict[str, str]) -> dict[str, str]:
    """The type of each id column: declared, else the referenced table's, else inferred from the values."""
    unknown = {c: t for c, t in declared.items() if t not in ("int", "string", "auto")}
    if unknown:
        raise SettingsError(f"{spec.name}: id_types must be int, string or auto, got {unknown}")
    types = {}
    for column in ID_COLUMNS:
        if column not in frame:
            continue
        target = spec.references.get(column)
        if declared.get(column, "auto") != "auto":
            types[column] = declared[column]
        elif target in references and not references[target].empty:
            key = references[target][TABLES[target].key[0]]
            types[column] = "int" if pd.api.types.is_integer_dtype(key) else "string"
        else:
            types[column] = infer_id_type(frame[column])
    return types


def _coerce(spec: CanonicalTable, frame: pd.DataFrame, id_types: dict[str, str], checks: Checks,
            reasons: _Reasons, times: TimeReading) -> pd.DataFrame:
    """Cast ids, numbers and timestamps element-wise; a value that does not fit rejects its row."""
    typed = frame.copy()
    for name, column in spec.schema.columns.items():
        if name not in frame:
            continue
        values = frame[name]
        dtype = str(column.dtype)
        missing = values.isna()
        if name in ID_COLUMNS:
            cast, problems, missing = _cast_id(values, id_types[name])
        elif dtype.startswith("datetime"):
            cast, problems = _cast_time(values, *checks.time_window(), times, f"{spec.name}.{name}")
        elif dtype in ("int64", "Int64", "float64"):
            readable = _clock_seconds(values) if name in DURATION_COLUMNS else values
            cast, problems = _cast_number(readable, integer=dtype.lower() == "int64")
        elif pd.api.types.is_float_dtype(values):  # text read as numbers, with a gap: gold group 3.0 is "3"
            cast, problems = id_text(values).astype(object).where(values.notna(), None), []
        else:
            cast, problems = None, []
        for mask, why in problems:
            reasons.flag(frame, mask, name, why)
        if not column.nullable:
            reasons.flag(frame, missing, name, "missing value")
        if cast is not None:
            typed[name] = cast
    return typed


def _cast_id(values: pd.Series, kind: str) -> tuple[pd.Series, list, pd.Series]:
    """(typed ids, problems, missing): Int64 for integer ids, Python strings for string ids."""
    if kind == "int" and pd.api.types.is_integer_dtype(values):
        return values.astype("Int64"), [], values.isna()
    text = id_text(values)
    missing = text.isna()
    lost = (values.abs() > FLOAT_EXACT if pd.api.types.is_float_dtype(values)
            else pd.Series(False, index=values.index))
    if kind == "string":
        garbled = text.str.contains(REPLACEMENT_CHAR, regex=False).fillna(False)
        return text.astype(object).where(~missing, None), [(garbled, NOT_UTF8), (lost, LOST_DIGITS)], missing
    integer = text.str.fullmatch(INT_TEXT).fillna(False)
    digits = text.where(integer).str.replace(r"\.0*$", "", regex=True).str.removeprefix("+")  # Arrow refuses '+2'
    # Over 18 digits may not fit int64: those few are checked one by one.
    long = (integer & (digits.str.lstrip("+-").str.len() > 18)).fillna(False).to_numpy(dtype=bool)
    too_big = pd.Series(False, index=values.index)
    if long.any():
        too_big[long] = [abs(int(d)) > INT64_LIMIT for d in digits[long]]
    cast = digits.where(integer & ~too_big).astype("Int64")
    return cast, [(~missing & ~integer, "not an integer id"), (too_big, "does not fit a 64-bit integer id"),
                  (lost, LOST_DIGITS)], missing


def _clock_seconds(values: pd.Series) -> pd.Series:
    """A duration column with its clock text ("1:02:03", "4:13") as seconds; numbers and other text as they were."""
    if pd.api.types.is_numeric_dtype(values):
        return values
    text = values.astype("string").str.strip()
    hms = text.str.extract(CLOCK_HMS).astype("float64")
    ms = text.str.extract(CLOCK_MS).astype("float64")
    seconds = (hms[0] * 3600 + hms[1] * 60 + hms[2]).fillna(ms[0] * 60 + ms[1])
    return values.astype(object).where(seconds.isna(), seconds)


def _cast_number(values: pd.Series, integer: bool) -> tuple[pd.Series, list]:
    if pd.api.types.is_bool_dtype(values):
        values = values.astype(object)
    numbers = pd.to_numeric(values, errors="coerce") if not pd.api.types.is_numeric_dtype(values) else values
    numbers = numbers.astype("float64")
    finite = np.isfinite(numbers)
    problems = [(values.notna() & numbers.isna(), "not a number"), (numbers.notna() & ~finite, "not a finite number")]
    if not integer:
        return numbers.where(finite), problems
    whole = finite & (numbers % 1 == 0)
    in_range = whole & (numbers.abs() <= INT64_LIMIT)
    problems += [(finite & ~whole, "not a whole number"), (whole & ~in_range, "does not fit a 64-bit integer")]
    return numbers.where(in_range).astype("Int64"), problems


def _cast_time(values: pd.Series, lower: pd.Timestamp, upper: pd.Timestamp, times: TimeReading = TimeReading(),
               column: str = "timestamp") -> tuple[pd.Series, list]:
    """Timestamps as naive UTC; numbers are unix time (unit by magnitude), text is parsed as dates (ISO 8601
    first, then dates relative to the export where ``times`` gives it, then :func:`_read_dates`). Times that name
    no zone are ``times.time_zone``'s (:class:`LocalTime`), UTC where it is None.

    Anything outside [lower, upper] is rejected per row, before it can overflow the storage type.
    """
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    outside = pd.Series(False, index=values.index)
    unreadable = pd.Series(False, index=values.index)
    disordered = pd.Series(False, index=values.index)
    local = pd.Series(False, index=values.index)  # times written without a zone, other than unix times

    def place(stamps: pd.Series) -> None:  # any resolution; out of the window before it can overflow ns
        beyond = stamps.notna() & ((stamps < lower) | (stamps > upper))
        outside[stamps.index[beyond.to_numpy()]] = True
        inside = stamps[stamps.notna() & ~beyond]
        out[inside.index] = inside.astype("datetime64[ns]")

    if pd.api.types.is_datetime64_any_dtype(values):
        zoned = getattr(values.dt, "tz", None) is not None
        place(values.dt.tz_convert(None) if zoned else values)
        local[:] = not zoned
    else:
        numbers = pd.to_numeric(values, errors="coerce") if not pd.api.types.is_numeric_dtype(values) else values
        numbers = numbers.astype("float64").where(lambda x: np.isfinite(x))
        is_number = numbers.notna()
        if is_number.any():
            unit, scale = epoch_unit(numbers[is_number].abs().median())
            readable = is_number & readable_numbers(numbers, unit, scale)
            seconds = unix_seconds(numbers, unit, scale)
            inside = readable & (seconds >= lower.timestamp()) & (seconds <= upper.timestamp())
            out[inside] = pd.to_datetime(unix_micros(numbers[inside], unit, scale).astype("int64"), unit="us")
            outside |= readable & ~inside
            unreadable |= is_number & ~readable
            local |= is_number & (unit in LOCAL_UNITS)
        text = values.notna() & ~is_number
        if text.any():
            strings = values[text].astype(str).str.strip()
            parsed = pd.to_datetime(strings, errors="coerce", format="ISO8601", utc=True)
            retry = parsed.isna()
            if times.time_zone is not None:  # ISO 8601 names a zone with Z or an offset after the time
                iso_zone = r"\d:\d{2}(?::\d{2}(?:\.\d+)?)? ?(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"
                local[text] = ~retry & ~strings.str.contains(iso_zone)
            if retry.any():
                parsed = parsed.dt.as_unit(DATE_UNIT)  # "2026-11-30" read to the second, "07.12.2026 9:05:30.250" not
                written = strings[retry] if times.exported_at is None else relative_read(strings[retry],
                                                                                          times.export_moment())
                naive, minutes_ahead, zoned = zones_apart(written)
                read, swapped = _read_dates(_russian_in_english(naive.str.replace(LOG_DATE_COLON, r"\1 ", regex=True)),
                                            times.dayfirst, column)
                # dateutil fills a missing year with this one (or 1900) and a missing date with today's ("10:00"):
                # such a time would change with the day of the run, and the engine reads none of them
                dated = naive.str.contains(r"\d{4}")  # most dates: the patterns below only for the others
                dated[~dated] = naive[~dated].str.match(NUMERIC_DATE) | naive[~dated].str.lower().str.match(WORDS_DATE)
                parsed[retry] = (read - pd.to_timedelta(minutes_ahead, unit="m")).where(dated)  # bad offsets: NaT
                disordered[swapped.index[swapped.to_numpy()]] = True
                local[zoned.index] = ~zoned
            place(parsed.dt.tz_convert(None))
            failed = parsed.index[(parsed.isna() & ~disordered[parsed.index]).to_numpy()]
            beyond = pd.Series([_beyond_storage(v) for v in strings[failed]], index=failed, dtype=bool)
            outside[failed] = beyond
            unreadable[failed] = ~beyond
    zone_problems = []
    if times.time_zone is not None:
        zone, written = LocalTime.of(times.time_zone, lower, upper), local & out.notna()
        out[written] = zone.to_utc(out[written])
        zone_problems.append((written & out.isna(), zone.why_not))
    known = out.notna()
    outside |= known & ((out < lower) | (out > upper))
    out = out.mask(outside)
    window = f"outside the plausible time window {lower:%Y-%m-%d} to {upper:%Y-%m-%d %H:%M}"
    return out, [(unreadable, "not a date or time"), (outside, window),
                 (disordered, DISORDERED_WHY), *zone_problems]


def _read_dates(strings: pd.Series, dayfirst: bool | None, column: str) -> tuple[pd.Series, pd.Series]:
    """Dates that are not ISO 8601, as UTC (unreadable ones NaT), and which of them only read in the other order.

    Numeric day-month dates are read in one order for the whole column: parsed one by one, "07.12.2026"
    came out as 12 July beside "13.12.2026" as 13 December. The order is ``dayfirst`` where the layout
    gives it, else what the column's unambiguous dates show (a first number above 12 means day first),
    else day first for dots (the order wherever dates are dotted) and month first for slashes and dashes,
    with a warning. A date that only reads in the other order is unreadable, not swapped.
    """
    parts = strings.str.extract(NUMERIC_DATE)
    numeric = parts[0].notna()
    parsed = _parse_dates(strings.where(~numeric), dayfirst=False)
    swapped = pd.Series(False, index=strings.index)
    if not numeric.any():
        return parsed, swapped
    first, second = parts.loc[numeric, 0].astype(int), parts.loc[numeric, 2].astype(int)
    if dayfirst is None:
        dayfirst = numeric_date_order(int((first > 12).sum()), int((second > 12).sum()),
                                      float((parts.loc[numeric, 1] == ".").mean()), column,
                                      lambda: strings[numeric].iloc[0])
    day, month = (first, second) if dayfirst else (second, first)
    read = _parse_dates(strings[numeric], dayfirst)
    # dateutil swaps day and month where the asked order is impossible (13/12/2026 month first); the dates' zones
    # are taken off before (zones_apart), so the day read is the day written.
    agrees = (read.dt.day == day) & (read.dt.month == month)
    parsed[numeric] = read.where(agrees)
    swapped[numeric] = read.notna() & ~agrees
    return parsed, swapped


def _russian_in_english(strings: pd.Series) -> pd.Series:
    """Dates with Russian month names and weekdays in the forms the engine reads (WORDS_DATE, CTIME_DATE), their
    names in English (dateutil reads English alone): "пн, 7 декабря 2026 г. 10:00" as "7 Dec 2026 10:00"."""
    lower = strings.str.lower()
    cyrillic = lower.str.contains("[а-яё]", regex=True)
    if not cyrillic.any():  # the column's dates are numeric or English: nothing to match
        return strings
    russian = cyrillic & (lower.str.match(WORDS_DATE) | lower.str.match(CTIME_DATE))
    translated = (strings[russian]
                  .str.replace(rf"(?i)^{WEEKDAY}", "", regex=True)
                  .str.replace(rf"(?i)(?<![а-яё])({RUSSIAN_MONTHS})\.?(?![а-яё])",
                               lambda match: MONTHS[MONTH_NUMBERS[match.group(1)[:3].lower()] - 1].title(),
                               regex=True)  # "Dec": pandas infers the format of "dec" from none and reads each alone
                  .str.replace(rf"(?i)(\d){RUSSIAN_YEAR}(?![а-яё])", r"\1", regex=True)
                  .str.replace(RUSSIAN_AT, " ", case=False, regex=False))
    return strings.where(~russian, translated)


def relative_read(strings: pd.Series, exported_at: pd.Timestamp) -> pd.Series:
    """Dates relative to the export (RELATIVE_DAY, TIME_AGO, JUST_NOW, YEARLESS_DATE) as the local dates they are,
    counted back from ``exported_at`` ("вчера в 10:00" exported on 7 December 2026 as "6 Dec 2026 10:00", "31 дек
    в 23:00" as "31 дек 2025 23:00", a zone after the time kept); other dates as they are."""
    lower = strings.str.lower()
    days = lower.str.extract(RELATIVE_DAY)
    ago = lower.str.extract(TIME_AGO)
    now = lower.str.match(JUST_NOW)
    read = strings.copy()
    day = days[0].notna()
    if day.any():
        dates = days.loc[day, 0].map(relative_days(exported_at))
        times = [text[len(text) - len(rest):] for text, rest in zip(strings[day], days.loc[day, 1])]  # as written
        read[day] = dates + pd.Series(times, index=dates.index)
    before = ago[1].notna()
    if before.any():
        count = pd.to_numeric(ago.loc[before, 0].str.strip(), errors="coerce").fillna(1)
        seconds = count * ago.loc[before, 1].str[:3].map(AGO_SECONDS)
        read[before] = (exported_at - pd.to_timedelta(seconds, unit="s")).dt.strftime("%Y-%m-%d %H:%M:%S")
    read[now] = exported_at.strftime("%Y-%m-%d %H:%M:%S")
    dates = lower.str.extract(YEARLESS_DATE)
    yearless = dates[0].notna()
    if yearless.any():
        day_of_month = dates.loc[yearless, 0].str.extract(r"(\d{1,2})")[0].astype(int)
        month = dates.loc[yearless, 0].str.extract("([a-zа-яё]{3})")[0].map(MONTH_NUMBERS)
        years = exported_at.year - (month * 100 + day_of_month > exported_at.month * 100 + exported_at.day)
        parts = zip(strings[yearless], dates.loc[yearless, 0], dates.loc[yearless, 1].fillna(""), years)
        read[yearless] = [f"{text[:len(date)].rstrip(',')} {year}{' ' + text[len(text) - len(time):] if time else ''}"
                          for text, date, time, year in parts]  # the date and the time as written
    return read


def relative_days(exported_at: pd.Timestamp) -> dict[str, str]:
    """Each word of RELATIVE_DAYS → the day it names, written as both readers read a date in words with a time after
    it, 12-hour clocks included ("вчера" exported on 7 December 2026 → "6 Dec 2026 ")."""
    days = {word: exported_at.normalize() - pd.Timedelta(days=back) for word, back in RELATIVE_DAYS.items()}
    return {word: f"{day.day} {MONTHS[day.month - 1].title()} {day.year} " for word, day in days.items()}


def zones_apart(strings: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Dates with the zone after their time of day (ZONED_TIME) taken off, the minutes it lies ahead of UTC (0
    where none is written; NaN where the offset cannot be one, as "UTC+25" or "+03:75"), and which named one."""
    local = strings.str.replace(f"(?i){ZONED_TIME}", r"\1\3", regex=True)  # ten times faster than extracting
    zoned = local != strings
    minutes_ahead = pd.Series(0.0, index=strings.index)
    if zoned.any():
        minutes_ahead[zoned] = _zone_minutes(strings[zoned].str.extract(f"(?i){ZONED_TIME}")[1].str.lower())
    return local, minutes_ahead, zoned


def _zone_minutes(zones: pd.Series) -> pd.Series:
    """Zones as ZONE writes them, in lower case, as the minutes they lie ahead of UTC (NaN where the offset cannot
    be one)."""
    named = zones.str.extract(f"^({ZONE_NAME})")[0].map(ZONE_MINUTES).fillna(0)
    offset = zones.str.extract(ZONE_OFFSET)
    hours, minutes = offset[1].astype(float).fillna(0), offset[2].astype(float).fillna(0)
    written = (hours * 60 + minutes).where(offset[0] != "-", -(hours * 60 + minutes))
    ahead = named + written
    return ahead.where((minutes < 60) & (ahead.abs() <= MAX_ZONE_MINUTES))


@dataclass(frozen=True)
class LocalTime:
    """The zone a table's times were written in where they name none (a layout's ``time_zone``), as the stretches
    of its local time that have one offset each: stretch i holds the local times from ``starts[i]`` to before
    ``ends[i]`` (naive; the first start and the last end open, None) and lies ``minutes_ahead[i]`` ahead of UTC.
    A local time that its clocks skipped (going forward) or lived twice (going back) lies in no stretch.

    The stretches are computed once (a fixed offset has one), so pandas and the engine convert alike.
    """

    name: str
    starts: tuple[pd.Timestamp | None, ...]
    ends: tuple[pd.Timestamp | None, ...]
    minutes_ahead: tuple[int, ...]

    @classmethod
    def of(cls, time_zone: str, lower: pd.Timestamp, upper: pd.Timestamp) -> LocalTime:
        """``time_zone``'s stretches from ``lower`` to ``upper`` (and two days beyond each): an IANA name
        (``Europe/Moscow``), or a zone as ZONE writes it (``+03:00``, ``UTC+3``, ``MSK``)."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if re.fullmatch(f"(?i){ZONE}", time_zone):
            minutes = _zone_minutes(pd.Series([time_zone.lower()])).iloc[0]
            if pd.isna(minutes):
                raise ValueError(f"time_zone {time_zone!r} lies more than 14 hours from UTC")
            return cls(time_zone, (None,), (None,), (int(minutes),))
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"time_zone {time_zone!r} is neither a zone's IANA name (Europe/Moscow) nor an offset "
                             f"(+03:00) nor one of {sorted(ZONE_MINUTES)}") from None
        # Every quarter of an hour in UTC: zones change their offset on one
        instants = pd.date_range(lower - pd.Timedelta(days=2), upper + pd.Timedelta(days=2), freq="15min")
        local = instants.tz_localize("UTC").tz_convert(time_zone).tz_localize(None)
        ahead = ((local - instants) // pd.Timedelta(minutes=1)).to_numpy()
        changes = np.flatnonzero(np.diff(ahead)) + 1
        offsets = ahead[np.r_[0, changes]].tolist()
        turns = instants[changes]  # the UTC instants where the offset changes
        starts = [None] + [turn + pd.Timedelta(minutes=max(before, after))
                           for turn, before, after in zip(turns, offsets, offsets[1:])]
        ends = [turn + pd.Timedelta(minutes=min(before, after))
                for turn, before, after in zip(turns, offsets, offsets[1:])] + [None]
        return cls(time_zone, tuple(starts), tuple(ends), tuple(offsets))

    @property
    def why_not(self) -> str:
        """The reason of a row whose local time lies in no stretch."""
        return f"a local time that {self.name} skipped or lived twice (its clocks changed)"

    def to_utc(self, local: pd.Series) -> pd.Series:
        """Naive local times as naive UTC, NaT where the local time lies in no stretch."""
        open_end = np.iinfo(np.int64).max
        starts = np.array([-open_end if start is None else start.value for start in self.starts])  # nanoseconds
        ends = np.array([open_end if end is None else end.value for end in self.ends])
        times = local.astype("datetime64[ns]")
        nanos = times.to_numpy().view("int64")
        stretch = np.clip(np.searchsorted(starts, nanos, side="right") - 1, 0, None)
        inside = times.notna().to_numpy() & (nanos >= starts[stretch]) & (nanos < ends[stretch])
        shift = pd.to_timedelta(np.array(self.minutes_ahead)[stretch], unit="m")
        return (times - shift).where(inside)


def numeric_date_order(day_first_shown: int, month_first_shown: int, dotted_share: float, column: str,
                       example: Callable[[], str]) -> bool:
    """Whether a column's numeric dates are day first: the order more of its unambiguous dates show (a first
    number above 12 means day first, a second one month first), else day first where most are dotted (the order
    wherever dates are dotted) and month first otherwise, with a warning naming ``example``, one of its dates."""
    if day_first_shown != month_first_shown:
        return day_first_shown > month_first_shown
    dayfirst = dotted_share >= 0.5
    if not day_first_shown and not dayfirst:
        logger.warning("%s: dates such as %r read month first (no day above 12 shows the order); give the "
                       "table's layout `dayfirst: true` if they are day first", column, example())
    return dayfirst


def _parse_dates(strings: pd.Series, dayfirst: bool) -> pd.Series:
    """Text dates as UTC in microseconds: in the format pandas infers from the first of them (200,000 dates in
    0.3 s), then any that do not fit it one by one (8 s for as many), so a column may mix formats."""
    with warnings.catch_warnings():  # "could not infer format": then every date is read one by one anyway
        warnings.filterwarnings("ignore", message="Could not infer format", category=UserWarning)
        parsed = pd.to_datetime(strings, errors="coerce", dayfirst=dayfirst, utc=True).dt.as_unit(DATE_UNIT)
    retry = parsed.isna() & strings.notna()
    if retry.any():
        parsed[retry] = pd.to_datetime(strings[retry], errors="coerce", format="mixed", dayfirst=dayfirst,
                                       utc=True).dt.as_unit(DATE_UNIT)
    return parsed


def epoch_unit(magnitude: float) -> tuple[str, float]:
    """The unit of times given as numbers whose typical size is ``magnitude`` (their median's), and how many of
    it make a second (EPOCH_UNITS; for COMPACT_DATES, the divisor that leaves the date)."""
    for unit, (low, high, divisor) in COMPACT_DATES.items():
        if low <= float(magnitude) < high:
            return unit, divisor
    for (unit, limit), scale in zip(EPOCH_UNITS, (1 / 86_400, 1, 1e3, 1e6, 1e9)):
        if float(magnitude) < limit:
            return unit, scale
    raise AssertionError("unreachable")


def readable_numbers(numbers: Any, unit: str, scale: float, parts: tuple[Any, ...] | None = None) -> Any:
    """Which of ``numbers`` are times in ``unit`` (:func:`epoch_unit`): for COMPACT_DATES, whole numbers in its band
    that write a date of the calendar and a time of day (20230229 and 202212072460 do not), from ``parts``
    (:func:`compact_parts`) where given; every number of the other units (True). A pandas Series or an Ibis
    column."""
    if unit not in COMPACT_DATES:
        return True
    low, high, _ = COMPACT_DATES[unit]
    year, month, day, hour, minute, second = parts or compact_parts(numbers, unit, scale)
    last_day = _civil_days(year + month // 12, month % 12 + 1, 1) - _civil_days(year, month, 1)
    return ((numbers >= low) & (numbers < high) & (numbers % 1 == 0) & month.between(1, 12) & (day >= 1)
            & (day <= last_day) & (hour < 24) & (minute < 60) & (second < 60))


def compact_parts(numbers: Any, unit: str, divisor: float) -> tuple[Any, ...]:
    """Year, month, day, hour, minute and second of COMPACT_DATES, computed within the unit's band (a number outside
    it, which :func:`readable_numbers` rejects, would overflow the engine's integers)."""
    low, high, _ = COMPACT_DATES[unit]
    inside = numbers.clip(lower=low, upper=high)
    date, clock = inside // divisor, inside % divisor * (1e6 / divisor)  # the time of day as hhmmss
    return date // 10_000, date // 100 % 100, date % 100, clock // 10_000, clock // 100 % 100, clock % 100


def _civil_days(year: Any, month: Any, day: Any) -> Any:
    """Days from 1970-01-01 to a date of the proleptic Gregorian calendar in integer arithmetic alone (H. Hinnant's
    days_from_civil), so that pandas and every engine compute it alike; the year taken to start in March."""
    shifted_month = (month + 9) % 12  # March 0 ... February 11
    march_year = year - shifted_month // 10
    era = march_year // 400
    year_of_era = march_year - era * 400
    day_of_year = (153 * shifted_month + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def unix_seconds(numbers: Any, unit: str, scale: float, parts: tuple[Any, ...] | None = None) -> Any:
    """Times given as numbers in ``unit`` (:func:`epoch_unit`) as unix seconds: a pandas Series or an Ibis column.
    Meaningless where :func:`readable_numbers` is False."""
    if unit in COMPACT_DATES:
        return unix_micros(numbers, unit, scale, parts) / 1e6
    return (numbers - EXCEL_EPOCH) * 86_400 if unit == "excel" else numbers / scale


def unix_micros(numbers: Any, unit: str, scale: float, parts: tuple[Any, ...] | None = None) -> Any:
    """The whole microseconds since 1970 that pandas and the engine read times given as numbers as: Excel's days to
    the millisecond, as Excel keeps times (10:00 is 0.41666… of a day); COMPACT_DATES to the second (from ``parts``
    where given); unix times in whole units of theirs. A pandas Series or an Ibis column."""
    if unit == "excel":
        return ((numbers - EXCEL_EPOCH) * MS_PER_DAY).round() * 1000
    if unit in COMPACT_DATES:
        year, month, day, hour, minute, second = parts or compact_parts(numbers, unit, scale)
        return (_civil_days(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second) * 1_000_000
    whole_units = numbers // 1
    return whole_units * (1e6 / scale) if scale <= 1e6 else whole_units // (scale / 1e6)


def _beyond_storage(text: str) -> bool:
    """Whether a date that pandas could not store is a real date (year 1600 or 3000), not garbage."""
    from dateutil import parser

    with warnings.catch_warnings():  # a zone it does not know ("10:00 CST") is read without one, then stored
        warnings.simplefilter("ignore", parser.UnknownTimezoneWarning)
        try:
            year = parser.parse(text).year
        except (ValueError, OverflowError):
            return False
    return not pd.Timestamp.min.year < year < pd.Timestamp.max.year


def _collect_failures(cases: pd.DataFrame, reasons: _Reasons, table: str) -> None:
    row_level = cases[cases["index"].notna()]
    table_level = cases[cases["index"].isna()]
    if len(table_level):
        problems = "; ".join(f"{r.column}: {r.check} ({r.failure_case})" for r in table_level.itertuples())
        raise ValueError(f"{table}: the data does not fit the canonical schema: {problems}")
    for case in row_level.itertuples():
        why = _describe(str(case.check))
        reasons.add([case.index], f"{case.column}: {why}", [f"{case.column}: {why} (got {_shown(case.failure_case)})"])


def _describe(check: str) -> str:
    if check == "not_nullable":
        return "missing value"
    # Built-in checks are named like "in_range(5, 110)"; custom ones carry a readable error.
    return f"fails {check}" if "(" in check else check


def _reject_duplicates(spec: CanonicalTable, frame: pd.DataFrame, ok: np.ndarray, reasons: _Reasons) -> None:
    if not spec.key:
        return
    candidates = frame.loc[ok, list(spec.key)]
    duplicated = candidates.index[candidates.duplicated(keep="first").to_numpy()]
    kind = f"duplicate of an earlier row on key {list(spec.key)}"
    reasons.add(duplicated, kind, [kind] * len(duplicated))


def _reject_dangling(spec: CanonicalTable, frame: pd.DataFrame, references: dict[str, pd.DataFrame],
                     rejected_references: dict[str, pd.DataFrame], ok: np.ndarray, reasons: _Reasons) -> None:
    for column, target in spec.references.items():
        if target not in references:
            continue
        # Both sides are typed alike (a referring column takes its target's id type).
        dangling = ok & ~frame[column].isin(references[target][TABLES[target].key[0]]).to_numpy()
        why_rejected = _rejection_by_key(rejected_references.get(target))
        entity = target.removesuffix("s")
        rows = frame.index[dangling]
        values = id_text(frame.loc[rows, column])
        cascaded = [r for r in rows if values[r] in why_rejected]
        reasons.add(cascaded, f"{column}: the {entity} was rejected",
                    (f"{column}: {entity} {values[r]} was rejected ({why_rejected[values[r]]})" for r in cascaded))
        missing = [r for r in rows if values[r] not in why_rejected]
        reasons.add(missing, f"{column}: not in {target}", (f"{column}: not in {target} (got {_shown(frame.at[r, column])})" for r in missing))


def _rejection_by_key(rejected: pd.DataFrame | None) -> dict[str, str]:
    if rejected is None or rejected.empty or "key" not in rejected:
        return {}
    known = rejected.dropna(subset=["key"])
    return dict(zip(known["key"].astype(str)[::-1], known["reason"][::-1]))  # the first rejection wins


def _reject_leaks(frame: pd.DataFrame, guard: dict[str, str], ok: np.ndarray, reasons: _Reasons) -> None:
    column, split = guard["column"], guard["split"]
    held_out = set(frame.loc[frame["split"] != split, column].dropna())
    leaking = ok & (frame["split"] == split).to_numpy() & frame[column].isin(held_out).to_numpy()
    rows = frame.index[leaking]
    kind = f"{column} also occurs in another split (would leak)"
    reasons.add(rows, kind, [kind] * len(rows))


def _rejected_frame(table: str, frame: pd.DataFrame, reasons: _Reasons) -> pd.DataFrame:
    """One row per rejected row: where it came from, its key as text, why, and its raw values.

    ``kinds`` lists the reasons without their values, so reasons can be counted.
    """
    index = reasons.rows()
    rows = frame.loc[index]
    key = TABLES[table].key
    records = rows.drop(columns=[RAW, ROW, LABEL_PROBLEM], errors="ignore").astype(object)
    records = records.where(records.notna(), None)
    return pd.DataFrame(
        {
            "table": pd.Series(table, index=range(len(index)), dtype=object),
            "raw": rows[RAW].astype(str).to_numpy(),
            "row": rows[ROW].astype("int64").to_numpy(),
            "key": (id_text(rows[key[0]]).astype(object).to_numpy() if len(key) == 1 and key[0] in rows
                    else np.full(len(index), None, dtype=object)),
            "reason": ["; ".join(text for _, text in reasons.by_row[i]) for i in index],
            "record": [json.dumps(r, default=str, ensure_ascii=False) for r in records.to_dict("records")],
            "kinds": [[kind for kind, _ in reasons.by_row[i]] for i in index],
        }
    )
