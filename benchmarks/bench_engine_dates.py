"""Reading text timestamps of an event log on the engine (``engine_ingest._cast_time`` on DuckDB), at an earlier
revision and at this checkout.

    .venv/bin/python benchmarks/bench_engine_dates.py --base REV [--runs 3]

500,000 feed events whose timestamps are text written seven ways: ISO 8601, day-first with dots as Russian
exports write them, a US export's month-first slashes on a 12-hour clock, RFC 2822's month names (RSS, e-mail),
Russian month names as Russian exports write them, and times with a zone (Moscow time by name, "UTC+3").
Each run ingests the log on
DuckDB (casts, checks, duplicates, unknown users and posts) and counts the accepted rows; it prints how many
were accepted, so a revision that rejects a format shows it. Both trees run on this checkout's .venv, each timing
a fresh process, the trees alternating (bench_pipeline_steps.compare_and_write).

Writes benchmarks/results/engine_dates.md.
"""

from __future__ import annotations

from pathlib import Path

from bench_pipeline_steps import compare_and_write

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "engine_dates.md"
ROWS = 500_000
CHILD = """
import json, sys, time
import numpy as np
import pandas as pd
from socialml.components.data.engine_ingest import ingest_on_engine
from socialml.components.data.engines import ENGINES
from socialml.components.data.ingest import ROW, Checks

written, rows = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
times = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300 * 86400, rows), unit="s")
texts = pd.Series(times.strftime(written))
if "г." in written:  # strftime's month names are English
    texts = texts.replace({"Jan": "янв.", "Feb": "февр.", "Mar": "мар.", "Apr": "апр.", "May": "мая", "Jun": "июня",
                           "Jul": "июля", "Aug": "авг.", "Sep": "сент.", "Oct": "окт.", "Nov": "нояб.", "Dec": "дек."},
                          regex=True)
raw = pd.DataFrame({"ts": texts, "uid": rng.integers(0, 1000, rows), "pid": np.arange(rows),
                    "what": "v", ROW: np.arange(rows)})
spec = {"raw": "feed", "columns": {"timestamp": "ts", "user_id": "uid", "post_id": "pid", "action": "what"},
        "values": {"action": {"v": "view"}}}
references = {"users": pd.DataFrame({"user_id": np.arange(1000)}), "posts": pd.DataFrame({"post_id": np.arange(rows)})}
engine = ENGINES.build({"kind": "duckdb"})
table = engine.table(raw)
start = time.perf_counter()
result = ingest_on_engine("feed_events", spec, table, engine, references, {}, Checks(max_rejected_share=1.0))
accepted = int(engine.run(result.accepted.count()))
seconds = time.perf_counter() - start
print(written, "accepted", accepted, "of", rows, file=sys.stderr)
print(json.dumps({"seconds": seconds}))
"""
STEPS = {"ISO 8601 (2024-03-07 14:05:09)": "%Y-%m-%d %H:%M:%S",
         "dotted, day first (07.03.2024 14:05:09)": "%d.%m.%Y %H:%M:%S",
         "slashes, month first, 12-hour clock (03/07/2024 02:05 PM)": "%m/%d/%Y %I:%M %p",
         "month names, RFC 2822 (Thu, 07 Mar 2024 14:05:09 +0000)": "%a, %d %b %Y %H:%M:%S +0000",
         "Russian month names (07 мар. 2024 г. 14:05)": "%d %b %Y г. %H:%M",
         "Moscow time by name (07.03.2024 14:05 МСК)": "%d.%m.%Y %H:%M МСК",
         "UTC and an offset (2024-03-07 14:05 UTC+3)": "%Y-%m-%d %H:%M UTC+3"}


if __name__ == "__main__":
    compare_and_write(RESULTS, f"Text timestamps of an event log ingested on DuckDB ({ROWS:,} of them), at an "
                      "earlier revision and at this checkout", CHILD, STEPS, str(ROWS), needs="no data needed")
