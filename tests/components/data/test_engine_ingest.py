"""The event logs checked on the engine give what ``ingest.validate`` gives in pandas: the same rows, reasons and records."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from socialml.components.core.errors import SettingsError
from socialml.components.data.engine_ingest import ingest_on_engine
from socialml.components.data.engines import ENGINES
from socialml.components.data.ingest import (
    ROW, Checks, EmptySourceError, IngestionStopped, TimeReading, adapt, enforce_checks, validate,
)
from socialml.datasets import EngineParquetDataset

SPEC = {"raw": "feed", "columns": {"timestamp": "ts", "user_id": "uid", "post_id": "pid", "action": "what"},
        "values": {"action": {"v": "view", "l": "like"}}}
CHECKS = Checks(time_max="2030-01-01", max_rejected_share=1.0)
USER = "3f1c2a9e-8b7d-4c6e-9a01-"  # string ids: UUID-like users
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java (scripts/install.sh --dev)")


def hostile_feed() -> tuple[pd.DataFrame, dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """A raw feed log with one of each damage, its users (UUID strings) and posts (integers), and a rejected user."""
    rows = [
        ("2024-01-01 10:00:00", f"{USER}000000000001", "1", "v"),  # fine
        ("2024-01-02T00:00:00+03:00", f" {USER}000000000002 ", "2.0", "l"),  # offset, padded id, 2.0: fine
        ("2024-01-01 10:00:00", f"{USER}000000000001", "1", "v"),  # duplicate of the first
        ("garbage", f"{USER}000000000001", "abc", "v"),  # unreadable time, post id not an integer
        (None, f"{USER}000000000002", "1", None),  # missing time and action
        ("2999-12-31", f"{USER}000000000002", "1", "v"),  # far future
        ("1970-01-01", f"{USER}000000000002", "2", "v"),  # before the plausible window
        ("2024-01-03", "", "1", "v"),  # blank user id
        ("2024-01-03", f"{USER}000000000404", "1", "v"),  # unknown user
        ("2024-01-03", f"{USER}000000000003", "2", "v"),  # user rejected at its own ingestion
        ("2024-01-03", f"{USER}000000000001", "99999999999999999999", "v"),  # does not fit int64
        ("2024-01-03", f"{USER}000000000001", "7", "v"),  # unknown post
        ("2024-01-03", f"{USER}000000000001", "1", "share"),  # action not allowed
        ("2024-01-04 08:30", f"{USER}000000000002", "+2", "l"),  # fine
        ("2024-01-04", f"{USER}00000000000\ufffd", "1", "v"),  # a byte that was not UTF-8 in the user id
    ]
    raw = pd.DataFrame(rows, columns=["ts", "uid", "pid", "what"])
    users = pd.DataFrame({"user_id": [f"{USER}00000000000{i}" for i in (1, 2)]})
    posts = pd.DataFrame({"post_id": pd.array([1, 2], dtype="Int64")})
    rejected_users = pd.DataFrame({"key": [f"{USER}000000000003"], "reason": ["age: fails in_range(5, 110) (got 300)"]})
    return raw, {"users": users, "posts": posts}, {"users": rejected_users}


def engine_of(kind: str):
    return ENGINES.build({"kind": kind, **({"master": "local[1]"} if kind == "spark" else {})})


def on_engine(kind: str, raw: pd.DataFrame, spec: dict, references: dict, rejected_references: dict,
              checks: Checks = CHECKS, table: str = "feed_events"):
    engine = engine_of(kind)
    result = ingest_on_engine(table, spec, engine.table(raw.assign(**{ROW: np.arange(len(raw))})), engine,
                              references, rejected_references, checks)
    return engine.run(result.accepted), result


def in_pandas(raw: pd.DataFrame, spec: dict, references: dict, rejected_references: dict, checks: Checks = CHECKS,
              table: str = "feed_events"):
    return validate(table, adapt(table, spec, {spec["raw"]: raw}), references, checks=checks,
                    rejected_references=rejected_references, times=TimeReading.of(spec))


def assert_same(engine_accepted: pd.DataFrame, engine_rejected: pd.DataFrame, accepted: pd.DataFrame,
                rejected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(engine_accepted.astype(accepted.dtypes.to_dict()), accepted)
    pd.testing.assert_frame_equal(engine_rejected, rejected)


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=needs_java)])
def test_the_engine_accepts_and_rejects_what_pandas_does_with_the_same_reasons(kind):
    raw, references, rejected_references = hostile_feed()
    accepted, rejected = in_pandas(raw, SPEC, references, rejected_references)
    engine_accepted, result = on_engine(kind, raw, SPEC, references, rejected_references)
    assert len(accepted) == 3 and len(rejected) == len(raw) - 3  # the hostile rows are all rejected, none lost
    assert (result.raw_rows, result.candidate_rows, result.rejected_rows) == (len(raw), len(raw), len(rejected))
    assert_same(engine_accepted, result.rejected, accepted, rejected)
    reasons = dict(zip(result.rejected["row"], result.rejected["reason"]))
    assert reasons[5].startswith("timestamp: outside the plausible time window") and "'2999-12-31'" in reasons[5]
    assert reasons[9] == (f"user_id: user {USER}000000000003 was rejected (age: fails in_range(5, 110) (got 300))")
    assert reasons[11] == "post_id: not in posts (got 7)"
    assert reasons[14] == f"user_id: bytes that are not UTF-8 (got '{USER}00000000000\ufffd')"
    assert engine_accepted["timestamp"].tolist()[1] == pd.Timestamp("2024-01-01 21:00")  # +03:00 read as UTC


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=needs_java)])
def test_ratings_in_unix_seconds_become_views_and_likes_as_in_pandas(kind, tmp_path):
    """MovieLens' shape: integer ids, unix seconds, a rating that adds a like from 4 up. The table the
    engine writes holds naive UTC times, as pandas' ingestion does, not times with a zone."""
    spec = {"raw": "ratings", "columns": {"timestamp": "t", "user_id": "u", "post_id": "i"},
            "likes_from": {"column": "rating", "min": 4}}
    raw = pd.DataFrame({"u": [1, 1, 2, 2, 3, 1], "i": [10, 11, 10, 12, 10, 10],
                        "t": [881250949, 891717742, 878887116, 1e18, 880606923, 881250949],
                        "rating": [5, 3, 4, 5, 1, 2]})
    references = {"users": pd.DataFrame({"user_id": [1, 2]}), "posts": pd.DataFrame({"post_id": [10, 11, 12]})}
    checks = Checks(time_min="1997-01-01", time_max="2030-01-01", max_rejected_share=1.0)
    accepted, rejected = in_pandas(raw, spec, references, {}, checks)
    engine_accepted, result = on_engine(kind, raw, spec, references, {}, checks)
    assert set(accepted["action"]) == {"view", "like"} and result.candidate_rows == len(raw) + 3
    assert_same(engine_accepted, result.rejected, accepted, rejected)
    assert sorted(rejected["reason"].str.split(" \\(").str[0]) == [
        "duplicate of an earlier row on key ['timestamp', 'user_id', 'post_id', 'action']",
        "timestamp: outside the plausible time window 1997-01-01 to 2030-01-01 00:00",  # a nanosecond time among seconds
        "timestamp: outside the plausible time window 1997-01-01 to 2030-01-01 00:00",  # and its like
        "user_id: not in users"]
    written = tmp_path / "feed_events.parquet"
    engine_of(kind).write_parquet(result.accepted, str(written))  # the same connection as on_engine's
    stored = pd.read_parquet(written).sort_values(["timestamp", "user_id", "action"], ignore_index=True)
    assert stored["timestamp"].dt.tz is None
    expected = accepted.sort_values(["timestamp", "user_id", "action"], ignore_index=True)
    assert stored["timestamp"].astype("datetime64[ns]").tolist() == expected["timestamp"].tolist()


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=needs_java)])
def test_views_are_checked_on_the_engine_as_in_pandas(kind):
    """Seed 002's viewing log: string items (hashed videos), watch time as text, an optional rating column absent."""
    spec = {"raw": "video_views", "columns": {"user_id": "uid", "item_id": "vid", "timestamp": "at",
                                              "watch_seconds": "secs"}}
    rows = [
        (f"{USER}000000000001", "v-9f2c", "2024-01-01 20:00", "1200"),  # fine
        (f"{USER}000000000001", "v-9f2c", "2024-01-01 20:00", "1200"),  # duplicate on the key
        (f"{USER}000000000002", "v-0001", "2024-01-02 08:00", "-5"),  # negative watch time
        (f"{USER}000000000002", "v-0001", "2024-01-02 09:00", "abc"),  # watch time not a number
        (f"{USER}000000000002", "v-4040", "2024-01-02 10:00", "30"),  # unknown video
        (f"{USER}000000000404", "v-0001", "2024-01-02 11:00", "30"),  # unknown user
        (f"{USER}000000000002", None, "2024-01-02 12:00", "30"),  # missing video
        (f"{USER}000000000002", "v-0001", "3381-10-17", "30"),  # far future
        (f"{USER}000000000002", "v-0001", "2024-01-03 07:00", None),  # no watch time: kept, it is optional
        (f"{USER}000000000002", "v-9f2c", "2024-01-03T10:00:00+01:00", "15.5"),  # fine, offset read as UTC
    ]
    raw = pd.DataFrame(rows, columns=["uid", "vid", "at", "secs"])
    references = {"users": pd.DataFrame({"user_id": [f"{USER}00000000000{i}" for i in (1, 2)]}),
                  "items": pd.DataFrame({"item_id": ["v-9f2c", "v-0001"]})}
    accepted, rejected = in_pandas(raw, spec, references, {}, table="views")
    engine_accepted, result = on_engine(kind, raw, spec, references, {}, table="views")
    assert len(accepted) == 3 and len(rejected) == len(raw) - 3
    assert_same(engine_accepted, result.rejected, accepted, rejected)
    reasons = dict(zip(result.rejected["row"], result.rejected["reason"]))
    assert reasons[2].startswith("watch_seconds: ") and "-5" in reasons[2]
    assert reasons[4] == "item_id: not in items (got 'v-4040')"
    assert engine_accepted["rating"].isna().all() and engine_accepted["watch_seconds"].isna().tolist() == [False, True, False]


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=needs_java)])
def test_long_ids_read_as_floats_are_rejected_on_the_engine_as_in_pandas(kind):
    """Telegram-sized user ids in a column with a blank cell: pandas reads them as floats, which cannot hold 19
    digits, so two users would become one id."""
    raw = pd.DataFrame({"ts": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"],
                        "uid": [1234567890123456789, None, 1234567890123456788, 42], "pid": ["1"] * 4,
                        "what": ["v"] * 4})
    references = {"users": pd.DataFrame({"user_id": pd.array([42], dtype="Int64")}),
                  "posts": pd.DataFrame({"post_id": pd.array([1], dtype="Int64")})}
    accepted, rejected = in_pandas(raw, SPEC, references, {})
    engine_accepted, result = on_engine(kind, raw, SPEC, references, {})
    assert_same(engine_accepted, result.rejected, accepted, rejected)
    assert accepted["user_id"].tolist() == [42]
    reasons = dict(zip(result.rejected["row"], result.rejected["reason"]))
    assert reasons[0] == reasons[2] and reasons[0].startswith(
        "user_id: read as a float, too long to keep its digits; read its column as text")


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=needs_java)])
def test_watch_time_written_as_a_clock_is_read_as_seconds_on_the_engine_as_in_pandas(kind):
    """YouTube-style exports: "0:12:34" (h:mm:ss), "4:13" (m:ss) beside plain seconds; "1:99" is no time."""
    spec = {"raw": "video_views", "columns": {"user_id": "uid", "item_id": "vid", "timestamp": "at",
                                              "watch_seconds": "watched"}}
    raw = pd.DataFrame({"uid": ["u1"] * 5, "vid": ["v1"] * 5, "at": [f"2024-01-0{day} 20:00" for day in range(1, 6)],
                        "watched": ["0:12:34", "4:13", "75", "1:99", "10:00:00"]})
    references = {"users": pd.DataFrame({"user_id": ["u1"]}), "items": pd.DataFrame({"item_id": ["v1"]})}
    accepted, rejected = in_pandas(raw, spec, references, {}, table="views")
    engine_accepted, result = on_engine(kind, raw, spec, references, {}, table="views")
    assert_same(engine_accepted, result.rejected, accepted, rejected)
    assert accepted["watch_seconds"].tolist() == [754.0, 253.0, 75.0, 36000.0]
    assert rejected["reason"].tolist() == ["watch_seconds: not a number (got '1:99')"]


def test_a_log_that_lost_too_much_stops_naming_the_table_and_the_true_count():
    """Only the allowed share of rejected rows (plus one) comes back to memory; the stop still counts them all."""
    raw = pd.DataFrame({"ts": ["2024-01-01"] * 50 + ["not a time"] * 950, "uid": [str(i) for i in range(1000)],
                        "pid": "1", "what": "v"})
    engine = ENGINES.build({"kind": "duckdb"})
    result = ingest_on_engine("feed_events", SPEC, engine.table(raw.assign(**{ROW: np.arange(len(raw))})), engine,
                              {}, {}, Checks(max_rejected_share=0.05))
    assert result.rejected_rows == 950 and len(result.rejected) == 50 + 1
    from socialml.pipelines.ingestion.nodes import ingest_events

    with pytest.raises(IngestionStopped, match=r"ingestion of 'feed_events' stopped: 950 of 1,000 rows rejected"):
        ingest_events("feed_events", SPEC, {"kind": "duckdb"}, {"max_rejected_share": 0.05}, raw_feed=raw)


def test_a_layout_the_engine_cannot_read_is_refused_by_name():
    raw = pd.DataFrame({"ts": ["2024-01-01"], "uid": [1], "pid": [1], "what": ["v"]})
    with pytest.raises(ValueError, match=r"feed_events: ingestion on the engine .* this layout has \['melt'\]"):
        on_engine("duckdb", raw, {**SPEC, "melt": {"columns": "*"}}, {}, {})
    with pytest.raises(ValueError, match=r"lacks required column\(s\) \['what'\]"):
        on_engine("duckdb", raw.drop(columns="what"), SPEC, {}, {})
    with pytest.raises(SettingsError, match=r"this layout has \['sample'\]"):
        on_engine("duckdb", raw, {**SPEC, "sample": {"rows": 1}}, {}, {})


def dated_feed(times: list[str]) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """A feed log of one user viewing a post at each of ``times``, and its users and posts."""
    raw = pd.DataFrame({"ts": times, "uid": 1, "pid": range(len(times)), "what": "v"})
    return raw, {"users": pd.DataFrame({"user_id": pd.array([1], dtype="Int64")}),
                 "posts": pd.DataFrame({"post_id": pd.array(range(len(times)), dtype="Int64")})}


# A column of a log as exported, and what its timestamps read (None: rejected). The first one's ISO date read to
# the second beside a dotted one to the millisecond once crashed pandas' reader (two resolutions in one column).
TEXT_TIMES = {
    "dotted, Excel's Russian export": (
        ["07.12.2026 10:00", "13.12.2026 10:00", "01.02.26", "2026-11-30T09:00:00Z", "7.12.2026 9:05:30.250",
         "07.12.2026, 18:30", "31.02.2026", "31.12.3000", "01.02.99", "07.12.2026 10:60"], None,
        ["2026-12-07 10:00", "2026-12-13 10:00", "2026-02-01", "2026-11-30 09:00", "2026-12-07 09:05:30.25",
         "2026-12-07 18:30", None, None, None, None]),
    "slashes whose days show day first": (
        ["07/12/2026", "25/12/2026", "31/12/2026", "12/25/2026"], None,
        ["2026-12-07", "2026-12-25", "2026-12-31", None]),
    "a US export, 12-hour clock": (
        ["12/7/2026 3:04 PM", "12/25/2026 12:00 AM", "1/2/26", "12/7/2026 13:04 PM", "12/7/2026 24:00"], None,
        ["2026-12-07 15:04", "2026-12-25", "2026-01-02", None, None]),
    # read in UTC: the last is the 13th there, which pandas' reader once took for a swapped day and month
    "with a UTC offset": (["07.12.2026 10:00 +03:00", "13.12.2026 10:00:00+0300", "07.12.2026 10:00 UTC",
                           "12.12.2026 23:30 -05:00"], None,
                          ["2026-12-07 07:00", "2026-12-13 07:00", "2026-12-07 10:00", "2026-12-13 04:30"]),
    "unix times written as text, as a JSON export has them": (  # the unit is the median's: seconds here
        ["1764201600", "1764288000", "2026-11-30 10:00", "1764374400000"], None,
        ["2025-11-27", "2025-11-28", "2026-11-30 10:00", None]),
    # days since 1899-12-30, the fraction the time of day (to the millisecond); the last two would be the years
    # 1900 and 2995
    "Excel's serial dates, as a workbook's date cells formatted General export": (
        ["46363.416666666664", "46363", "46363.5", "100", "400000"], None,
        ["2026-12-07 10:00", "2026-12-07", "2026-12-07 12:00", None, None]),
    # one number, year first, as warehouses keep dates (as unix seconds they were August 1970, and all rejected): a
    # day the calendar lacks, a 13th month and a unix time beside them are not dates of the column's form
    "dates written as one number, year first": (
        ["20261207", "20240229", " 20261130 ", "20230229", "20261307", "1764201600"], None,
        ["2026-12-07", "2024-02-29", "2026-11-30", None, None, None]),
    "dates and times written as one number, to the second": (
        ["20261207103005", "20261207000000", "20261207103060", "20261207243000", "20261207103005.5"], None,
        ["2026-12-07 10:30:05", "2026-12-07", None, None, None]),
    "year first, with slashes or dots as some locales write it, and ISO 8601's forms": (
        ["2026/11/30 10:00", "2026.11.30", "2026-11-30T10:00", "2026-11-30T10:00:00.123+03:00",
         "2026-11-30 10:00:00 UTC"], None,
        ["2026-11-30 10:00", "2026-11-30", "2026-11-30 10:00", "2026-11-30 07:00:00.123", "2026-11-30 10:00"]),
    "slashes the layout says are day first": (["07/12/2026", "01-02-2026 23:59:59"], True,
                                              ["2026-12-07", "2026-02-01 23:59:59"]),
    "English month names, as US exports, RSS (RFC 2822) and Twitter (ctime) write them": (
        ["Dec 7, 2026 3:04 PM", "7 December 2026 10:00", "07-Dec-26", "Mon, 07 Dec 2026 10:00:00 +0000",
         "Mon Dec  7 10:00:00 +0300 2026", "Sept 7th, 2026", "monday, DECEMBER 7, 2026, 11:00", "Decem 7 2026",
         "31 Feb 2026", "Dec 7, 2026 at noon", "Dec 7, 3000 10:00"], None,
        ["2026-12-07 15:04", "2026-12-07 10:00", "2026-12-07", "2026-12-07 10:00", "2026-12-07 07:00", "2026-09-07",
         "2026-12-07 11:00", None, None, None, None]),
    "Apache's and nginx's access logs, the date and the time joined by a colon": (
        ["07/Dec/2026:10:00:00 +0300", "07/Dec/2026:10:00:00 +0000", "07/Dec/2026 10:00", "7/dec/2026:23:59:59 -0500",
         "32/Dec/2026:10:00:00 +0300", "07/Dec/2026:25:00:00 +0300"], None,
        ["2026-12-07 07:00", "2026-12-07 10:00", "2026-12-07 10:00", "2026-12-08 04:59:59", None, None]),
    "Russian month names, as Russian exports and VK write them": (
        ["7 декабря 2026 г. 10:00", "пн, 07 дек. 2026 10:00", "1 Мая 2026 года", "7 дек 2026 в 15:04",
         "Понедельник, 7 декабря 2026, 10:00 +03:00", "7 сент. 26", "7 декаб 2026", "вчера в 10:00",
         "7 декабря 3000 г."], None,
        ["2026-12-07 10:00", "2026-12-07 10:00", "2026-05-01", "2026-12-07 15:04", "2026-12-07 07:00", "2026-09-07",
         None, None, None]),
    # "UTC+3" as people mean it (dateutil read it POSIX's way: 13:00); Moscow time plus four hours is UTC+7. Names of
    # several zones (CST), offsets beyond ±14 h and zones by their IANA name (which DuckDB's cast alone read) are
    # rejected; a space before an offset (which DuckDB's cast did not read) is not.
    "time zones written after the time, by offset or by name": (
        ["2026-12-07 10:00 UTC+3", "07.12.2026 10:00 МСК", "Dec 7, 2026 3:04 PM EST", "Mon Dec  7 10:00:00 MSK 2026",
         "7 дек 2026 в 15:04 (МСК+4)", "2026-12-07 10:00 +0300", "2026-12-07T10:00:00 gmt-05:00",
         "13.12.2026 01:00 +05:30", "2026-12-07 10:00 CST", "07.12.2026 10:00 UTC+25", "2026-12-07 10:00 Europe/Moscow",
         "2026-12-31 23:00 -02:00"], None,
        ["2026-12-07 07:00", "2026-12-07 07:00", "2026-12-07 20:04", "2026-12-07 07:00", "2026-12-07 08:04",
         "2026-12-07 07:00", "2026-12-07 15:00", "2026-12-12 19:30", None, None, None, "2027-01-01 01:00"]),
    # Java's ZonedDateTime: the region in square brackets after the offset, which fixes the moment; a region alone
    # is rejected as any IANA name after a time is
    "an offset and its region, as Java writes a zoned time": (
        ["2026-12-07T10:00+03:00[Europe/Moscow]", "2026-12-07T10:00:00Z[UTC]",
         "2026-07-07T10:00:30.5-04:00[America/New_York]", "2026-12-07T10:00+05:00[Etc/GMT-5]",
         "2026-12-07T10:00[Europe/Moscow]"], None,
        ["2026-12-07 07:00", "2026-12-07 10:00", "2026-07-07 14:00:30.5", "2026-12-07 05:00", None]),
    # dateutil filled a missing year with this one or 1900 and a missing date with the run's day ("10:00" was read
    # as today): read by neither now
    "a time or a day and month without a year": (
        ["10:00", "10:00 +0300", "Dec 7 at 3:04 PM", "7 дек в 15:04", "12/7 10:00", "Monday 10:00",
         "2026-12-07 10:00"], None, [None, None, None, None, None, None, "2026-12-07 10:00"]),
    # in words day first, beside numeric dates month first: each read in its own order
    "month names beside numeric dates of the other order": (
        ["12/7/2026", "12/25/2026", "1 Dec 2026", "Dec 2, 2026"], None,
        ["2026-12-07", "2026-12-25", "2026-12-01", "2026-12-02"]),
}


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=needs_java)])
@pytest.mark.parametrize("case", TEXT_TIMES)
def test_text_times_read_on_the_engine_as_pandas_reads_them_numeric_dates_in_one_order_per_column(kind, case):
    times, dayfirst, expected = TEXT_TIMES[case]
    raw, references = dated_feed(times)
    spec = {**SPEC, **({"dayfirst": dayfirst} if dayfirst is not None else {})}
    accepted, rejected = in_pandas(raw, spec, references, {})
    engine_accepted, result = on_engine(kind, raw, spec, references, {})
    assert accepted["timestamp"].tolist() == [pd.Timestamp(t) for t in expected if t]
    assert rejected["row"].tolist() == [row for row, t in enumerate(expected) if t is None]
    assert_same(engine_accepted, result.rejected, accepted, rejected)


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=needs_java)])
def test_times_without_a_zone_are_the_layout_s_local_time_on_the_engine_as_in_pandas(kind):
    # Berlin's clocks went forward on 29 March 2026 at 02:00 and back on 25 October at 03:00: 02:30 was skipped
    # on the one day and lived twice on the other, and is rejected; a time that names its zone keeps it.
    raw, references = dated_feed(["2026-03-29 01:59", "2026-03-29 02:30", "2026-03-29 03:00", "25.10.2026 01:59",
                                  "25.10.2026 02:30", "25.10.2026 03:00", "2026-12-07", "Dec 7, 2026 3:04 PM",
                                  "2026-12-07T10:00:00Z", "07.12.2026 10:00 МСК"])
    spec = {**SPEC, "time_zone": "Europe/Berlin"}
    accepted, rejected = in_pandas(raw, spec, references, {})
    engine_accepted, result = on_engine(kind, raw, spec, references, {})
    assert accepted["timestamp"].tolist() == [pd.Timestamp(t) for t in (
        "2026-03-29 00:59", "2026-03-29 01:00", "2026-10-24 23:59", "2026-10-25 02:00", "2026-12-06 23:00",
        "2026-12-07 14:04", "2026-12-07 10:00", "2026-12-07 07:00")]
    assert rejected["reason"].tolist() == [
        f"timestamp: a local time that Europe/Berlin skipped or lived twice (its clocks changed) (got '{t}')"
        for t in ("2026-03-29 02:30", "25.10.2026 02:30")]
    assert_same(engine_accepted, result.rejected, accepted, rejected)


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=needs_java)])
@pytest.mark.parametrize(("times", "expected"), [
    ([46363 + 10 / 24, 46364.0], ["2026-12-07 07:00", "2026-12-07 21:00"]),  # Excel's days: local
    ([1764201600, 1764288000], ["2025-11-27", "2025-11-28"]),  # unix times: UTC whatever the layout says
])
def test_a_layout_s_fixed_offset_applies_to_excel_dates_not_to_unix_times_on_the_engine_as_in_pandas(kind, times,
                                                                                                        expected):
    raw, references = dated_feed(times)
    spec = {**SPEC, "time_zone": "+03:00"}
    accepted, rejected = in_pandas(raw, spec, references, {})
    engine_accepted, result = on_engine(kind, raw, spec, references, {})
    assert accepted["timestamp"].tolist() == [pd.Timestamp(t) for t in expected]
    assert_same(engine_accepted, result.rejected, accepted, rejected)


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=needs_java)])
def test_dates_stored_as_numbers_year_first_are_the_layout_s_local_time_on_the_engine_as_in_pandas(kind):
    # as a warehouse's integer columns keep them (20261207, 202612071030), in Moscow time; a date the calendar
    # lacks (the 31st of November) is rejected as no date, not moved to the next month
    for times, expected, unread in (
            ([20261207, 20261130, 20261131], ["2026-12-06 21:00", "2026-11-29 21:00"], [20261131]),
            ([202612071030, 202612072359, 202612071075], ["2026-12-07 07:30", "2026-12-07 20:59"], [202612071075])):
        raw, references = dated_feed(times)
        spec = {**SPEC, "time_zone": "Europe/Moscow"}
        accepted, rejected = in_pandas(raw, spec, references, {})
        engine_accepted, result = on_engine(kind, raw, spec, references, {})
        assert accepted["timestamp"].tolist() == [pd.Timestamp(t) for t in expected]
        assert rejected["reason"].tolist() == [f"timestamp: not a date or time (got {value})" for value in unread]
        assert_same(engine_accepted, result.rejected, accepted, rejected)


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=needs_java)])
def test_excel_serial_dates_read_as_numbers_are_days_on_the_engine_as_in_pandas(kind):
    raw, references = dated_feed([46363 + 10 / 24, 46363.0, 46363.999988426, 100.0, np.nan])
    accepted, rejected = in_pandas(raw, SPEC, references, {})
    engine_accepted, result = on_engine(kind, raw, SPEC, references, {})
    assert accepted["timestamp"].tolist() == [pd.Timestamp(t) for t in ("2026-12-07 10:00", "2026-12-07",
                                                                        "2026-12-07 23:59:59")]
    assert rejected["reason"].tolist() == [
        "timestamp: outside the plausible time window 2000-01-01 to 2030-01-01 00:00 (got 100.0)",
        "timestamp: missing value (got None)"]
    assert_same(engine_accepted, result.rejected, accepted, rejected)


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=needs_java)])
def test_a_date_and_a_time_exported_apart_are_read_as_one_on_the_engine_as_in_pandas(kind):
    raw, references = dated_feed(["-"] * 6)
    raw = raw.drop(columns=["ts"]).assign(day=["07.12.2026", "13.12.2026", "07.12.2026", None, " ", "Dec 7, 2026"],
                                          time=["10:00", "23:59:59", None, "10:00", "10:00", "3:04 PM"])
    spec = {**SPEC, "columns": {**SPEC["columns"], "timestamp": ["day", "time"]}}
    accepted, rejected = in_pandas(raw, spec, references, {})
    engine_accepted, result = on_engine(kind, raw, spec, references, {})
    assert accepted["timestamp"].tolist() == [pd.Timestamp(t) for t in ("2026-12-07 10:00", "2026-12-13 23:59:59",
                                                                        "2026-12-07 15:04")]
    assert rejected["row"].tolist() == [2, 3, 4]  # a part blank: no timestamp, not midnight
    assert_same(engine_accepted, result.rejected, accepted, rejected)


def test_a_date_only_read_the_other_way_round_is_rejected_as_such_and_one_without_an_order_warns(caplog):
    raw, references = dated_feed(["07/12/2026", "25/12/2026", "31/12/2026", "12/25/2026", "вчера в 10:00"])
    _, result = on_engine("duckdb", raw, SPEC, references, {})
    assert result.rejected["reason"].tolist() == [
        "timestamp: day and month only read in the other order than the column's dates (got '12/25/2026')",
        "timestamp: not a date or time (got 'вчера в 10:00')"]
    raw, references = dated_feed(["07/12/2026", "01/02/2026"])
    with caplog.at_level("WARNING"):
        engine_accepted, _ = on_engine("duckdb", raw, SPEC, references, {})
    assert engine_accepted["timestamp"].tolist() == [pd.Timestamp("2026-07-12"), pd.Timestamp("2026-01-02")]
    assert "feed_events.timestamp: dates such as '07/12/2026' read month first" in caplog.text


def test_a_log_stopped_by_numbers_read_outside_the_time_window_says_how_numbers_are_read():
    # Avazu's hours as YYMMDDHH: unix seconds of 1970, not a date written as one number year first
    raw, references = dated_feed(["14102100", "14102101", "14102223"])
    _, result = on_engine("duckdb", raw, SPEC, references, {})
    with pytest.raises(IngestionStopped, match=r"Times given as numbers \(14102100\) are read by their median's size: "
                                               r"Excel's serial dates below a million, dates written as one number"):
        enforce_checks("feed_events", result.candidate_rows, 0, result.rejected, CHECKS)
    raw, references = dated_feed(["3000-01-01", "3000-01-02"])  # dates beyond the window: no word of numbers
    _, result = on_engine("duckdb", raw, SPEC, references, {})
    with pytest.raises(IngestionStopped) as stop:
        enforce_checks("feed_events", result.candidate_rows, 0, result.rejected, CHECKS)
    assert "outside the plausible time window" in str(stop.value) and "Times given as numbers" not in str(stop.value)


def test_a_log_stopped_by_timestamps_the_engine_cannot_read_says_which_it_reads():
    raw, references = dated_feed(["вчера в 10:00", "сегодня в 11:00"])
    _, result = on_engine("duckdb", raw, SPEC, references, {})
    with pytest.raises(IngestionStopped, match=r"timestamps such as 'вчера в 10:00' are read on the engine, "
                                               r"which takes ISO 8601 .*numeric dates \(07.12.2024 10:00") as stop:
        enforce_checks("feed_events", result.candidate_rows, 0, result.rejected, CHECKS)
    assert "give the table's layout exported_at: '2026-12-07 18:30'" in str(stop.value)


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=needs_java)])
def test_dates_relative_to_the_export_count_back_from_the_layout_s_exported_at_on_the_engine_as_in_pandas(kind):
    # shown by a social network's page on 7 December 2026 at 18:30, Moscow time; a day without a time, a day ahead
    # and a count of days are not read
    raw, references = dated_feed(["вчера в 10:00", "Сегодня в 9:05", "позавчера, 23:59", "today at 3:04 PM",
                                  "yesterday at 10:00 UTC", "5 минут назад", "час назад", "an hour ago",
                                  "только что", "07.12.2026 10:00", "30 секунд назад", "a second ago",
                                  "вчера", "завтра в 10:00", "10 дней назад"])
    spec = {**SPEC, "exported_at": "2026-12-07 18:30", "time_zone": "Europe/Moscow"}
    accepted, rejected = in_pandas(raw, spec, references, {})
    engine_accepted, result = on_engine(kind, raw, spec, references, {})
    assert accepted["timestamp"].tolist() == [pd.Timestamp(t) for t in (
        "2026-12-06 07:00", "2026-12-07 06:05", "2026-12-05 20:59", "2026-12-07 12:04", "2026-12-06 10:00",
        "2026-12-07 15:25", "2026-12-07 14:30", "2026-12-07 14:30", "2026-12-07 15:30", "2026-12-07 07:00",
        "2026-12-07 15:29:30", "2026-12-07 15:29:59")]
    assert rejected["row"].tolist() == [12, 13, 14]
    assert_same(engine_accepted, result.rejected, accepted, rejected)


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=needs_java)])
def test_a_date_without_its_year_takes_the_export_s_or_the_one_before_on_the_engine_as_in_pandas(kind):
    # exported on 7 December 2026: "8 Dec" was last year's, as VK shows this year's posts without a year
    raw, references = dated_feed(["7 дек в 15:04", "Dec 7 at 3:04 PM", "December 7, 3:04 PM", "31 дек в 23:00",
                                  "8 Dec", "1 января в 10:00", "7th December at 10:00 UTC", "31 Feb at 10:00"])
    spec = {**SPEC, "exported_at": "2026-12-07 18:30"}
    accepted, rejected = in_pandas(raw, spec, references, {})
    engine_accepted, result = on_engine(kind, raw, spec, references, {})
    assert accepted["timestamp"].tolist() == [pd.Timestamp(t) for t in (
        "2026-12-07 15:04", "2026-12-07 15:04", "2026-12-07 15:04", "2025-12-31 23:00", "2025-12-08",
        "2026-01-01 10:00", "2026-12-07 10:00")]
    assert rejected["reason"].tolist() == ["timestamp: not a date or time (got '31 Feb at 10:00')"]
    assert_same(engine_accepted, result.rejected, accepted, rejected)


def test_raw_rows_are_numbered_by_their_place_in_the_file_and_tables_are_written_whole(tmp_path):
    raw, references, rejected_references = hostile_feed()
    raw_path, primary_path = tmp_path / "feed.parquet", tmp_path / "primary" / "feed_events.parquet"
    EngineParquetDataset(str(raw_path), {"kind": "duckdb"}).save(raw)
    loaded = EngineParquetDataset(str(raw_path), {"kind": "duckdb"}, row_numbers=ROW).load()
    engine = ENGINES.build({"kind": "duckdb"})
    result = ingest_on_engine("feed_events", SPEC, loaded, engine, references, rejected_references, CHECKS)
    _, rejected = in_pandas(raw, SPEC, references, rejected_references)
    assert result.rejected["row"].tolist() == rejected["row"].tolist()  # file positions, as pandas counts them
    primary = EngineParquetDataset(str(primary_path), {"kind": "duckdb"})
    primary.save(result.accepted)
    assert len(pd.read_parquet(primary_path)) == 3 and list(primary_path.parent.iterdir()) == [primary_path]

    broken = result.accepted.mutate(timestamp=result.accepted["timestamp"].cast("string").cast("int64"))
    with pytest.raises(Exception):
        primary.save(broken)  # fails while writing: the table written before is still there, whole
    assert len(pd.read_parquet(primary_path)) == 3 and list(primary_path.parent.iterdir()) == [primary_path]


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("spark", marks=needs_java)])
def test_a_clean_log_loses_nothing_and_an_empty_one_stops_naming_the_table(kind):
    raw = pd.DataFrame({"ts": ["2024-01-01", "2024-01-02"], "uid": ["a", "b"], "pid": ["1", "2"], "what": ["v", "l"]})
    accepted, result = on_engine(kind, raw, SPEC, {}, {})
    assert accepted["action"].tolist() == ["view", "like"] and result.rejected.empty and result.rejected_rows == 0
    with pytest.raises(EmptySourceError, match=r"feed_events: raw frame 'feed' has a header but no rows"):
        on_engine(kind, raw.iloc[:0], SPEC, {}, {})


def test_a_node_told_another_engine_than_the_catalog_s_stops_saying_where_to_set_it(tmp_path):
    """`--params engine...` reaches the nodes, not the catalog's engine tables: a mix is refused, not run half here."""
    raw, _, _ = hostile_feed()
    EngineParquetDataset(str(tmp_path / "feed.parquet"), {"kind": "duckdb"}).save(raw)
    loaded = EngineParquetDataset(str(tmp_path / "feed.parquet"), {"kind": "duckdb"}, row_numbers=ROW).load()
    from socialml.pipelines.ingestion.nodes import ingest_events

    with pytest.raises(ValueError, match=r"another engine than DuckDB .* `engine` in globals.yml"):
        ingest_events("feed_events", SPEC, {"kind": "duckdb", "threads": 1}, {}, raw_feed=loaded)
