"""Ingestion of the feed log (validation, de-duplication, unknown users and posts set aside) at 5 to 50 million events.

    .venv/bin/python benchmarks/bench_feed_ingestion.py [--sizes 5,20,50] [--pandas-sizes 5] [--repeats 3]

Three ways to do the same work on the same raw parquet file, each a fresh process:
- the project's engine ingestion (``ingest_events``: Ibis on DuckDB, the default engine), reading the raw file
  where it lies, writing the accepted rows to parquet and fetching the rejected ones with their reasons;
- the same work written by hand in DuckDB SQL (the reference the scale-out issue names: within 1.5×);
- the pandas ingestion the feed log went through before (``adapt`` + ``validate``, then ``to_parquet``).

The raw log is generated in chunks of a million (never whole in memory) under benchmarks/.work/feed_ingestion/,
with damage planted at known rates: repeated rows, unknown users and posts, actions that are not allowed,
missing times. At the smallest size the benchmark checks that the three give the same accepted rows and reject
the same raw rows before timing anything. Writes benchmarks/results/feed_ingestion.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
from process_peak import measured
from synthetic_feed import population, write_feed_log
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work" / "feed_ingestion"
RESULTS = ROOT / "benchmarks" / "results" / "feed_ingestion.md"
DAMAGE = {"repeated": 0.005, "unknown_user": 0.001, "unknown_post": 0.001, "bad_action": 0.0005, "no_time": 0.0005}
SPEC = {"raw": "feed_data", "columns": {"timestamp": "timestamp", "user_id": "user_id", "post_id": "post_id",
                                        "action": "action"}}
CHECKS = {"time_min": "2000-01-01", "time_max": "2030-01-01", "max_rejected_share": 0.05}
WAYS = {"engine": "the project's engine ingestion (Ibis on DuckDB)", "sql": "DuckDB SQL by hand",
        "pandas": "pandas ingestion (the path before)"}


def generate(millions: int) -> Path:
    """feed.parquet with planted damage, and the users and posts it may refer to."""
    folder = WORK / f"{millions}M"
    if (folder / "done").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    n_events, n_users, n_posts = population(millions)
    rng = np.random.default_rng(millions)

    def damaged(chunk: pd.DataFrame) -> pd.DataFrame:
        picked = {kind: rng.random(len(chunk)) < share for kind, share in DAMAGE.items()}
        chunk.loc[picked["unknown_user"], "user_id"] += n_users
        chunk.loc[picked["unknown_post"], "post_id"] += n_posts
        chunk.loc[picked["bad_action"], "action"] = "share"
        chunk.loc[picked["no_time"], "timestamp"] = pd.NaT
        return pd.concat([chunk, chunk[picked["repeated"]]], ignore_index=True)

    write_feed_log(folder / "feed.parquet", millions, rng, damaged)
    pq.write_table(pa.table({"user_id": np.arange(n_users)}), folder / "users.parquet")
    pq.write_table(pa.table({"post_id": np.arange(n_posts)}), folder / "posts.parquet")
    (folder / "done").write_text(str(n_events))
    return folder


def hand_sql(folder: Path, accepted: Path) -> tuple[int, pd.DataFrame]:
    """The same checks in DuckDB SQL: accepted rows to parquet in raw order, rejected rows (with what failed) fetched."""
    import duckdb

    connection = duckdb.connect()
    feed, users, posts = (str(folder / f"{name}.parquet") for name in ("feed", "users", "posts"))
    connection.sql(f"""CREATE TEMP TABLE users AS SELECT user_id FROM read_parquet('{users}');
                       CREATE TEMP TABLE posts AS SELECT post_id FROM read_parquet('{posts}')""")
    checked = f"""
        WITH raw AS (SELECT * FROM read_parquet('{feed}', file_row_number = true)),
        valued AS (
            SELECT *, timestamp IS NULL AS no_time,
                   timestamp < TIMESTAMP '{CHECKS['time_min']}' OR timestamp > TIMESTAMP '{CHECKS['time_max']}' AS outside,
                   user_id IS NULL AS no_user, post_id IS NULL AS no_post, action IS NULL AS no_action
            FROM raw),
        values_ok AS (
            SELECT *, NOT (no_time OR coalesce(outside, false) OR no_user OR no_post OR no_action) AS cast_ok FROM valued),
        allowed AS (SELECT *, cast_ok AND action NOT IN ('view', 'like') AS bad_action FROM values_ok),
        flagged AS (
            SELECT *, cast_ok AND NOT bad_action AS ok FROM allowed)
        SELECT *,
               ok AND row_number() OVER (PARTITION BY timestamp, user_id, post_id, action, ok ORDER BY file_row_number) > 1
                   AS duplicate,
               ok AND user_id NOT IN (SELECT user_id FROM users) AS unknown_user,
               ok AND post_id NOT IN (SELECT post_id FROM posts) AS unknown_post
        FROM flagged"""
    failed = "NOT ok OR duplicate OR unknown_user OR unknown_post"
    rejected = connection.sql(f"SELECT * FROM ({checked}) WHERE {failed} ORDER BY file_row_number").df()
    connection.sql(f"""COPY (SELECT timestamp, user_id, post_id, action FROM ({checked}) WHERE NOT ({failed})
                             ORDER BY file_row_number) TO '{accepted}' (FORMAT parquet)""")
    return len(rejected), rejected


def engine_ingestion(folder: Path, accepted: Path) -> tuple[int, pd.DataFrame]:
    from socialml.components.data.engines import ENGINES
    from socialml.datasets import EngineParquetDataset
    from socialml.pipelines.ingestion.nodes import ingest_events

    engine = {"kind": "duckdb"}
    raw = EngineParquetDataset(str(folder / "feed.parquet"), engine, row_numbers="_row").load()
    references = {f"ref_{table}": pd.read_parquet(folder / f"{table}.parquet") for table in ("users", "posts")}
    table, rejected, counts = ingest_events("feed_events", SPEC, engine, CHECKS, raw_feed_data=raw, **references)
    ENGINES.build(engine).write_parquet(table, str(accepted))
    return counts["rejected"], rejected


def pandas_ingestion(folder: Path, accepted: Path) -> tuple[int, pd.DataFrame]:
    from socialml.pipelines.ingestion.nodes import ingest_table

    references = {f"ref_{table}": pd.read_parquet(folder / f"{table}.parquet") for table in ("users", "posts")}
    table, rejected, counts = ingest_table("feed_events", SPEC, CHECKS, raw_feed_data=pd.read_parquet(folder / "feed.parquet"),
                                           **references)
    table.to_parquet(accepted)
    return counts["rejected"], rejected


def work(way: str, folder: Path, accepted: Path) -> tuple[int, pd.DataFrame]:
    return {"engine": engine_ingestion, "sql": hand_sql, "pandas": pandas_ingestion}[way](folder, accepted)


def same_results(folder: Path) -> int:
    """The three ways accept the same rows in the same order and reject the same raw rows (checked, not timed)."""
    tables, rejected_rows = {}, {}
    for way in WAYS:
        path = folder / f"accepted_{way}.parquet"
        _, rejected = work(way, folder, path)
        tables[way] = pd.read_parquet(path).astype({"user_id": "int64", "post_id": "int64",
                                                    "timestamp": "datetime64[us]", "action": "str"})
        rejected_rows[way] = sorted(rejected["row" if "row" in rejected else "file_row_number"].astype(int))
    for way in ("sql", "pandas"):
        pd.testing.assert_frame_equal(tables["engine"], tables[way])
        assert rejected_rows["engine"] == rejected_rows[way], way
    return len(rejected_rows["engine"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="5,20,50", help="millions of events")
    parser.add_argument("--pandas-sizes", default="5", help="the sizes the pandas path runs at (millions)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", nargs=2, metavar=("WAY", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        way, folder = args.worker[0], Path(args.worker[1])
        rejected, _ = work(way, folder, folder / f"timed_{way}.parquet")
        print(json.dumps({"rejected": rejected}))
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    pandas_sizes = {int(size) for size in args.pandas_sizes.split(",") if size}
    rows, checked = [], ""
    for millions in sizes:
        started = time.perf_counter()
        folder = generate(millions)
        print(f"{millions} M events ready in {folder} ({time.perf_counter() - started:.0f} s)", flush=True)
        if millions == sizes[0]:
            rejected = same_results(folder)
            checked = f"checked equal at {millions} M: the same accepted rows in order and the same {rejected:,} rejected raw rows"
        ways = ["sql", "engine"] + (["pandas"] if millions in pandas_sizes else [])
        for way in ways:
            worker = [sys.executable, __file__, "--worker", way, str(folder)]
            runs = [measured(worker, f"{way} on {folder}") for _ in range(args.repeats)]
            walls = [wall for wall, _ in runs]
            rows.append({"events": millions * 1_000_000, "way": WAYS[way], "walls": walls,
                         "median": statistics.median(walls), "peak": max(peak for _, peak in runs)})
            print(f"  {WAYS[way]}: median {rows[-1]['median']:.2f} s, peak {rows[-1]['peak']:.0f} MiB", flush=True)
    reference = {row["events"]: row["median"] for row in rows if row["way"] == WAYS["sql"]}
    lines = ["| events | way | median wall (s) | runs (s) | peak RSS (MiB) | wall / SQL by hand |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {row['events']:,} | {row['way']} | {row['median']:.2f} | {', '.join(f'{w:.2f}' for w in row['walls'])} | "
              f"{row['peak']:.0f} | {row['median'] / reference[row['events']]:.2f} |" for row in rows]
    RESULTS.write_text(f"""# Ingestion of the feed log, 5 to 50 million events

Reproduce: `.venv/bin/python benchmarks/bench_feed_ingestion.py --sizes {args.sizes} --pandas-sizes {args.pandas_sizes} --repeats {args.repeats}`
Machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}, {platform.machine()}; measured {time.strftime('%Y-%m-%d')}.

Validation (required fields, allowed actions, the time window), duplicates on the key, and events of unknown
users or posts set aside, from the raw parquet file to the accepted rows written as parquet in raw order and the
rejected rows in memory; planted damage: {', '.join(f'{kind} {share:.2%}' for kind, share in DAMAGE.items())}
of the rows. Each run is a fresh process (imports and the engine's start included); the peak is its resident
memory, sampled every 0.1 s. The three ways were {checked}.

{chr(10).join(lines)}
""")
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
