"""The canonical tables every source is adapted into, as pandera schemas.

Downstream code reads only these tables, so it never needs to know where data came from.
Each table declares its key (duplicates of it are rejected) and the tables its foreign
keys point to (rows pointing at nothing are rejected).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandera.pandas as pa

SENTIMENTS = ("positive", "neutral", "negative")
ACTIONS = ("view", "like")
LIST_COLUMNS = ("topics", "categories")
# Durations in seconds, which video platforms also export as clock text: "1:02:03" (h:mm:ss) or "4:13" (m:ss).
DURATION_COLUMNS = ("watch_seconds", "duration_s")
CLOCK_HMS = r"^(\d+):([0-5]\d):([0-5]\d)$"
CLOCK_MS = r"^(\d+):([0-5]\d)$"
# Columns that hold ids: integer or string per source, never cast to a number behind the user's back.
ID_COLUMNS = ("user_id", "post_id", "item_id", "client_id", "answer_id", "question_id", "text_id")
REPLACEMENT_CHAR = "\ufffd"  # what a byte that is not UTF-8 becomes when read with errors="replace"


def _valid_utf8(series):
    return ~series.astype("string").str.contains(REPLACEMENT_CHAR, regex=False).fillna(False)


def _not_blank(series):
    return series.astype("string").str.strip().str.len().fillna(0) > 0


NOT_UTF8 = "bytes that are not UTF-8"
UTF8 = pa.Check(_valid_utf8, element_wise=False, name="valid_utf8", error=NOT_UTF8)
NOT_BLANK = pa.Check(_not_blank, element_wise=False, name="not_blank", error="empty text")


def _text(required: bool = False, nullable: bool = True) -> pa.Column:
    checks = [UTF8, NOT_BLANK] if required else [UTF8]
    return pa.Column("str", checks=checks, nullable=nullable and not required, required=required, coerce=True)


def _labels() -> pa.Column:
    """A list of labels per row (may be empty): parquet stores it as a list column."""
    is_list = pa.Check(lambda v: isinstance(v, (list, tuple, np.ndarray)), element_wise=True, name="label_list",
                       error="not a list of labels")
    readable = pa.Check(lambda v: not isinstance(v, (list, tuple, np.ndarray))
                        or not any(REPLACEMENT_CHAR in str(label) for label in v),
                        element_wise=True, name="labels_utf8", error=NOT_UTF8)
    return pa.Column(None, checks=[is_list, readable], nullable=False)


def _id() -> pa.Column:
    """An id: integers or strings, whichever the source has (ingestion decides and casts, see ingest)."""
    return pa.Column(None, nullable=False)


def _time(required: bool = True) -> pa.Column:
    """A naive-UTC timestamp; sources without one (``required=False``) leave it empty."""
    return pa.Column("datetime64[ns]", nullable=not required, coerce=True, required=required)


@dataclass(frozen=True)
class CanonicalTable:
    name: str
    schema: pa.DataFrameSchema
    key: tuple[str, ...] = ()
    references: dict[str, str] = field(default_factory=dict)  # column → referenced table (its key)
    defaults: dict[str, Any] = field(default_factory=dict)  # column → its value where a layout maps none

    @property
    def required_columns(self) -> list[str]:
        return [name for name, column in self.schema.columns.items() if column.required]


TABLES: dict[str, CanonicalTable] = {
    t.name: t
    for t in [
        CanonicalTable(
            "users",
            pa.DataFrameSchema(
                {
                    "user_id": _id(),
                    "gender": pa.Column("str", pa.Check.isin(["female", "male"]), nullable=True, required=False),
                    "age": pa.Column("float64", pa.Check.in_range(5, 110), nullable=True, coerce=True, required=False),
                    "country": _text(),
                    "city": _text(),
                    "region": _text(),
                    "os": _text(),
                    "source": _text(),
                    "exp_group": pa.Column("Int64", nullable=True, coerce=True, required=False),
                    "occupation": _text(),
                }
            ),
            key=("user_id",),
        ),
        CanonicalTable(
            "posts",
            pa.DataFrameSchema(
                {
                    "post_id": _id(),
                    "created_at": _time(required=False),
                    "doc_text": _text(),
                    "image2text": _text(),
                    "speech2text": _text(),
                    "topics": _labels(),
                    "split": _text(),
                }
            ),
            key=("post_id",),
        ),
        CanonicalTable(
            "feed_events",
            pa.DataFrameSchema(
                {
                    "timestamp": _time(),
                    "user_id": _id(),
                    "post_id": _id(),
                    "action": pa.Column("str", pa.Check.isin(ACTIONS), nullable=False),
                }
            ),
            key=("timestamp", "user_id", "post_id", "action"),
            references={"user_id": "users", "post_id": "posts"},
        ),
        CanonicalTable(
            "answers",
            pa.DataFrameSchema(
                {
                    "answer_id": _id(),
                    "question_id": _id(),
                    "question_text": _text(required=True),
                    "answer_text": _text(required=True),
                    "count": pa.Column("int64", pa.Check.ge(1), nullable=False, coerce=True, required=False),
                    # A gold meaning group, where a source has one: the clusters are scored against it.
                    "true_group": _text(),
                }
            ),
            key=("answer_id",),
            defaults={"count": 1},  # each row one answer, unless the source counts repeats
        ),
        CanonicalTable(
            "sentiment_texts",
            pa.DataFrameSchema(
                {
                    "text_id": _id(),
                    "text": _text(required=True),
                    "sentiment": pa.Column("str", pa.Check.isin(SENTIMENTS), nullable=False),
                    "split": _text(),
                }
            ),
            key=("text_id",),
        ),
        CanonicalTable(
            "items",
            pa.DataFrameSchema(
                {
                    "item_id": _id(),
                    "title": _text(),
                    "categories": _labels(),
                    "duration_s": pa.Column("float64", pa.Check.ge(0), nullable=True, coerce=True, required=False),
                }
            ),
            key=("item_id",),
        ),
        CanonicalTable(
            "views",
            pa.DataFrameSchema(
                {
                    "user_id": _id(),
                    "item_id": _id(),
                    "timestamp": _time(),
                    "watch_seconds": pa.Column("float64", pa.Check.ge(0), nullable=True, coerce=True, required=False),
                    "rating": pa.Column("float64", nullable=True, coerce=True, required=False),
                }
            ),
            key=("user_id", "item_id", "timestamp"),
            references={"user_id": "users", "item_id": "items"},
        ),
        CanonicalTable(
            "clients",
            pa.DataFrameSchema({"client_id": _id()}),
            key=("client_id",),
        ),
        CanonicalTable(
            "holdings",
            pa.DataFrameSchema(
                {
                    "client_id": _id(),
                    "product_id": _text(required=True),
                    "since": _time(required=False),
                }
            ),
            key=("client_id", "product_id"),
            references={"client_id": "clients"},
        ),
        CanonicalTable(
            "regions",
            pa.DataFrameSchema({"region": _text(required=True)}),
            key=("region",),
        ),
    ]
}

# Order in which a source's tables are ingested: referenced tables come first.
INGESTION_ORDER = ("users", "posts", "items", "clients", "regions", "answers", "sentiment_texts",
                   "feed_events", "views", "holdings")
