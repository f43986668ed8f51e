"""The model service under load: feed latency percentiles and throughput at fixed request rates, and memory.

    .venv/bin/python benchmarks/bench_serving.py [--rates 50,100,200] [--seconds 30] [--project .] [--env ENV]

Starts `socialml-serve` on loopback over the project's trained models (run `kedro run` first), then
drives GET /post/recommendations/ open-loop: requests leave on a fixed schedule at each rate whether
or not earlier ones have returned (as wrk2 and vegeta do), so a slow service shows up as latency
instead of being hidden by a client that waits (coordinated omission). The load generator (asyncio +
httpx) runs on the same machine and shares its cores with the service.
Writes benchmarks/results/serving.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "serving.md"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(project: Path, env: str | None, port: int) -> subprocess.Popen:
    args = [sys.executable, "-m", "socialml.serving.app", "--project", str(project), "--port", str(port),
            "--feed-log", str(Path(tempfile.mkdtemp()) / "feed_log.jsonl")]
    if env:
        args += ["--env", env]
    process = subprocess.Popen(args, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.kill()
    sys.exit("the service did not become ready")


def load(port: int, rate: int, seconds: int, users: list[int]) -> dict:
    """Fire rate × seconds requests on schedule; latency from each request's scheduled start."""
    async def run() -> tuple[list[float], int, float]:
        latencies, failures = [], 0
        timeout = httpx.Timeout(30.0)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=timeout,
                                     limits=httpx.Limits(max_connections=1000)) as client:
            async def one(i: int, scheduled: float) -> None:
                nonlocal failures
                try:
                    response = await client.get("/post/recommendations/", params={"id": users[i % len(users)]})
                    failures += response.status_code != 200
                except httpx.HTTPError:
                    failures += 1
                latencies.append(time.perf_counter() - scheduled)

            start = time.perf_counter()
            tasks = []
            for i in range(rate * seconds):
                scheduled = start + i / rate
                await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
                tasks.append(asyncio.create_task(one(i, scheduled)))
            await asyncio.gather(*tasks)
            return latencies, failures, time.perf_counter() - start

    latencies, failures, elapsed = asyncio.run(run())
    ms = np.array(latencies) * 1000
    return {"requests": len(ms), "failures": failures, "rps": len(ms) / elapsed, "mean": float(ms.mean()),
            "p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "p99": float(np.percentile(ms, 99))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="50,100,200")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--project", default=str(ROOT))
    parser.add_argument("--env", default=None)
    args = parser.parse_args()
    project = Path(args.project).resolve()
    users = pd.read_parquet(project / "data" / "03_primary" / "demo" / "users.parquet")["user_id"].tolist()
    port = free_port()
    service = start_service(project, args.env, port)
    memory = psutil.Process(service.pid)
    idle_rss = memory.memory_info().rss / 2**20
    lines = ["# Model service under load", "",
             f"`.venv/bin/python benchmarks/bench_serving.py --rates {args.rates} --seconds {args.seconds}`", "",
             f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}. One uvicorn process serving the "
             "demo platform's models (`kedro run`); an open-loop load generator on the same cores, users of the "
             "demo platform in turn, GET /post/recommendations/ (five posts). Latencies in ms from each request's "
             "scheduled start to its response (client side, loopback).", "",
             "| target req/s | achieved req/s | requests | failures | mean | p50 | p95 | p99 | service RSS MiB |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    try:
        for rate in [int(r) for r in args.rates.split(",")]:
            result = load(port, rate, args.seconds, users)
            rss = memory.memory_info().rss / 2**20
            lines.append(f"| {rate} | {result['rps']:.1f} | {result['requests']} | {result['failures']} | "
                         f"{result['mean']:.1f} | {result['p50']:.1f} | {result['p95']:.1f} | {result['p99']:.1f} | "
                         f"{rss:.0f} |")
            print(lines[-1], flush=True)
    finally:
        service.terminate()
        service.wait(timeout=30)
    lines += ["", f"Service RSS after start-up (all models loaded, encoders warm): {idle_rss:.0f} MiB."]
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
