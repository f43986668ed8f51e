"""Reading text dates at ingestion in pandas (``ingest._cast_time``: posts' ``created_at``, holdings' ``since``; the
event logs are read by the engine), at an earlier revision and at this checkout.

    .venv/bin/python benchmarks/bench_text_dates.py --base REV [--runs 3]

200,000 timestamps of one log written seven ways: ISO 8601 (read by the fast first pass at both revisions),
day-first with dots as Russian exports write them, month-first with slashes, English month names on a 12-hour
clock, Russian month names, and times with a zone (Moscow time by name, "UTC+3"). Each run prints how many it
read, so a revision that rejects a format shows it.
Both trees run on this checkout's .venv, each timing a fresh process, the trees alternating
(bench_pipeline_steps.compare_and_write).

Writes benchmarks/results/text_dates.md.
"""

from __future__ import annotations

from pathlib import Path

from bench_pipeline_steps import compare_and_write

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "text_dates.md"
ROWS = 200_000
CHILD = """
import json, sys, time
import numpy as np
import pandas as pd
from socialml.components.data.ingest import _cast_time

written, rows = sys.argv[1], int(sys.argv[2])
times = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.random.default_rng(0).integers(0, 300 * 86400, rows), unit="s")
text = pd.Series(times.strftime(written))
if "г." in written:  # strftime's month names are English
    text = text.replace({"Jan": "янв.", "Feb": "февр.", "Mar": "мар.", "Apr": "апр.", "May": "мая", "Jun": "июня",
                         "Jul": "июля", "Aug": "авг.", "Sep": "сент.", "Oct": "окт.", "Nov": "нояб.", "Dec": "дек."},
                        regex=True)
start = time.perf_counter()
read, _ = _cast_time(text, pd.Timestamp("2000-01-01"), pd.Timestamp("2030-01-01"))
seconds = time.perf_counter() - start
print(written, "read", int(read.notna().sum()), "of", rows, file=sys.stderr)
print(json.dumps({"seconds": seconds}))
"""
STEPS = {"ISO 8601 (2024-03-07T14:05:09)": "%Y-%m-%dT%H:%M:%S",
         "dotted, day first (07.03.2024 14:05:09)": "%d.%m.%Y %H:%M:%S",
         "slashes, month first (03/07/2024 14:05)": "%m/%d/%Y %H:%M",
         "English month names (Mar 07, 2024 02:05 PM)": "%b %d, %Y %I:%M %p",
         "Russian month names (07 мар. 2024 г. 14:05)": "%d %b %Y г. %H:%M",
         "Moscow time by name (07.03.2024 14:05 МСК)": "%d.%m.%Y %H:%M МСК",
         "UTC and an offset (2024-03-07 14:05 UTC+3)": "%Y-%m-%d %H:%M UTC+3"}


if __name__ == "__main__":
    compare_and_write(RESULTS, f"Text dates at ingestion ({ROWS:,} of them), at an earlier revision and at this "
                      "checkout", CHILD, STEPS, str(ROWS), needs="no data needed")
