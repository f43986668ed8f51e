"""Wall time and peak memory of a worker process, for the benchmarks that time each run in a fresh process."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil


def measured(args: list[str], what: str) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of ``args`` run as a child: the whole process tree (a JVM included),
    sampled every 0.1 s. A failed run stops the benchmark, naming ``what``."""
    start = time.perf_counter()
    process = subprocess.Popen(args)
    watched, peak = psutil.Process(process.pid), 0.0
    while process.poll() is None:
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [watched, *watched.children(recursive=True)]))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.1)
    wall = time.perf_counter() - start
    if process.returncode:
        sys.exit(f"{what} failed with exit code {process.returncode}")
    return wall, peak / 2**20
