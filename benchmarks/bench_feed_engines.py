"""Aggregates over feed events at 5, 20 and 50 million events, per engine, beside hand-written DuckDB SQL.

    .venv/bin/python benchmarks/bench_feed_engines.py [--sizes 5,20,50] [--spark-sizes 5] [--repeats 3]

The work is the project's own Ibis expressions (``features.user_event_counts``, ``user_topic_counts``,
``post_event_counts``: per user views, likes, distinct posts, active days, first and last event, views
per part of the day and weekday; per user and topic views and likes; per post views and likes), read
straight from parquet by the engine and fetched to pandas. The reference is the same work written by
hand in DuckDB SQL over the same files; at the smallest size the benchmark checks that both give the
same tables before timing anything.

Events are generated in chunks of a million straight to parquet (``synthetic_feed``) under
benchmarks/.work/feed_events/, once per size. Each timed run is a fresh process, so its wall time
includes the engine's start (a DuckDB connection; Spark's JVM), and its peak memory is the resident
memory of its whole process tree (the JVM included), sampled every 0.1 s. Writes
benchmarks/results/feed_engines.md and feed_engines.png.
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

from socialml.components.data import features
from socialml.components.data.engines import ENGINES

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work" / "feed_events"
RESULTS = ROOT / "benchmarks" / "results"
TOPICS = 12
ENGINE_CONFIGS = {"duckdb": {"kind": "duckdb"}, "spark": {"kind": "spark", "master": "local[2]",
                                                          "conf": {"spark.driver.memory": "3g"}}}


def generate(millions: int) -> Path:
    """events.parquet (timestamp, user_id, post_id, action) and topics.parquet (post_id, topic), written chunk by chunk."""
    folder = WORK / f"{millions}M"
    if (folder / "done").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(millions)
    write_feed_log(folder / "events.parquet", millions, rng)
    n_events, _, n_posts = population(millions)
    topics_per_post = rng.integers(1, 3, n_posts)
    pq.write_table(pa.table({"post_id": np.repeat(np.arange(n_posts), topics_per_post),
                             "topic": [f"topic_{t}" for t in rng.integers(0, TOPICS, topics_per_post.sum())]}),
                   folder / "topics.parquet")
    (folder / "done").write_text(str(n_events))
    return folder


def reference_sql(events: str, topics: str) -> list[str]:
    """The same three aggregates, written by hand in DuckDB SQL."""
    view = "action <> 'like'"
    day_parts = [f"count(*) FILTER (WHERE {view} AND hour(timestamp) >= {start} AND hour(timestamp) < {end}) "
                 f"AS view_share_{name}" for name, (start, end) in features.DAY_PARTS.items()]
    weekdays = [f"count(*) FILTER (WHERE {view} AND isodow(timestamp) = {day + 1}) AS view_share_{name}"
                for day, name in enumerate(features.WEEKDAYS)]
    return [
        f"""SELECT user_id, count(*) FILTER (WHERE {view}) AS n_views, count(*) FILTER (WHERE action = 'like') AS n_likes,
                   count(DISTINCT post_id) FILTER (WHERE {view}) AS n_posts_seen,
                   min(timestamp) AS first_seen, max(timestamp) AS last_seen,
                   count(DISTINCT CAST(timestamp AS DATE)) FILTER (WHERE {view}) AS active_days,
                   {', '.join(day_parts + weekdays)}
            FROM read_parquet('{events}') GROUP BY user_id""",
        f"""SELECT e.user_id, t.topic, count(*) FILTER (WHERE {view}) AS n_seen,
                   count(*) FILTER (WHERE action = 'like') AS n_liked
            FROM read_parquet('{events}') e JOIN read_parquet('{topics}') t USING (post_id) GROUP BY ALL""",
        f"""SELECT post_id, count(*) FILTER (WHERE {view}) AS n_views, count(*) FILTER (WHERE action = 'like') AS n_likes
            FROM read_parquet('{events}') GROUP BY post_id""",
    ]


def work(engine: str, folder: Path) -> list[pd.DataFrame]:
    """What one timed run does: the three aggregates over the folder's files, as pandas frames."""
    events, topics = str(folder / "events.parquet"), str(folder / "topics.parquet")
    if engine == "sql":
        import duckdb

        connection = duckdb.connect()
        return [connection.sql(query).df() for query in reference_sql(events, topics)]
    built = ENGINES.build(ENGINE_CONFIGS[engine])
    event_table, topic_table = features.with_periods(built.read_parquet(events), None), built.read_parquet(topics)
    expressions = (features.user_event_counts(event_table), features.user_topic_counts(event_table, topic_table),
                   features.post_event_counts(event_table))
    return [built.run(expression).drop(columns="period") for expression in expressions]  # one period: all events


def same_tables(folder: Path) -> None:
    """The Ibis expressions on DuckDB and the hand-written SQL give the same tables (checked, not timed)."""
    keys = (["user_id"], ["user_id", "topic"], ["post_id"])
    for ours, reference, key in zip(work("duckdb", folder), work("sql", folder), keys):
        ours, reference = (frame.sort_values(key, ignore_index=True) for frame in (ours, reference))
        pd.testing.assert_frame_equal(ours, reference[list(ours.columns)], check_dtype=False)


def write_results(rows: list[dict], args: argparse.Namespace) -> None:
    table = pd.DataFrame(rows)
    reference = table[table["engine"] == "DuckDB SQL by hand"].set_index("events")["median"]
    lines = ["| events | engine | median wall (s) | runs (s) | s per million events | peak RSS (MiB) | wall / SQL by hand |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| {row['events']:,} | {row['engine']} | {row['median']:.2f} | "
                     f"{', '.join(f'{w:.2f}' for w in row['walls'])} | {row['median'] / row['events'] * 1e6:.3f} | "
                     f"{row['peak']:.0f} | {row['median'] / reference[row['events']]:.2f} |")
    command = (f".venv/bin/python benchmarks/bench_feed_engines.py --sizes {args.sizes} --spark-sizes {args.spark_sizes}"
               f" --repeats {args.repeats}")
    (RESULTS / "feed_engines.md").write_text(f"""# Aggregates over feed events per engine, 5 to 50 million events

Reproduce: `{command}`
Machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}, {platform.machine()}; measured {time.strftime('%Y-%m-%d')}.

The project's Ibis expressions (`features.user_event_counts`, `user_topic_counts`, `post_event_counts`)
read straight from parquet on each engine, beside the same work written by hand in DuckDB SQL over
the same files (checked equal at {args.sizes.split(',')[0]} M before timing). Each run is a fresh process: the wall time
includes the engine's start, the peak is the resident memory of the process tree (Spark's JVM
included). {os.cpu_count()} cores; DuckDB uses both, Spark runs `local[2]`.

{chr(10).join(lines)}

![wall time and peak memory against events](feed_engines.png)
""")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (wall_axis, memory_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for engine, runs in table.groupby("engine", sort=False):
        millions = runs["events"] / 1e6
        wall_axis.plot(millions, runs["median"], marker="o", label=engine)
        memory_axis.plot(millions, runs["peak"], marker="o", label=engine)
    wall_axis.set(xlabel="feed events (millions)", ylabel="median wall time (s)", title="Time")
    memory_axis.set(xlabel="feed events (millions)", ylabel="peak resident memory (MiB)", title="Memory")
    memory_axis.axhline(4096, color="grey", linestyle="--", linewidth=1, label="4 GiB target")
    for axis in (wall_axis, memory_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(RESULTS / "feed_engines.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="5,20,50", help="millions of events")
    parser.add_argument("--spark-sizes", default="5", help="the sizes Spark runs at (millions)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", nargs=2, metavar=("ENGINE", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        frames = work(args.worker[0], Path(args.worker[1]))
        print(json.dumps({"rows": [len(frame) for frame in frames]}))
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    spark_sizes = {int(size) for size in args.spark_sizes.split(",") if size}
    rows = []
    for millions in sizes:
        started = time.perf_counter()
        folder = generate(millions)
        print(f"{millions} M events ready in {folder} ({time.perf_counter() - started:.0f} s)", flush=True)
        if millions == sizes[0]:
            same_tables(folder)
        engines = [("sql", "DuckDB SQL by hand"), ("duckdb", "Ibis on DuckDB (the project's default)")]
        engines += [("spark", "Ibis on Spark local[2]")] if millions in spark_sizes else []
        for engine, label in engines:
            worker = [sys.executable, __file__, "--worker", engine, str(folder)]
            runs = [measured(worker, f"{engine} on {folder}") for _ in range(args.repeats)]
            walls = [wall for wall, _ in runs]
            rows.append({"events": millions * 1_000_000, "engine": label, "walls": walls,
                         "median": statistics.median(walls), "peak": max(peak for _, peak in runs)})
            print(f"  {label}: median {rows[-1]['median']:.2f} s, peak {rows[-1]['peak']:.0f} MiB", flush=True)
    write_results(rows, args)
    print((RESULTS / "feed_engines.md").read_text())


if __name__ == "__main__":
    main()
