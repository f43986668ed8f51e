"""The model service under load: feed latency percentiles and throughput at fixed request rates, and memory.

    .venv/bin/python benchmarks/bench_serving.py [--rates 50,100,200] [--seconds 20] [--repeats 3]
                                                 [--project .] [--env ENV]
    .venv/bin/python benchmarks/bench_serving.py --reloads 50 [--interval 5] [--rate 200] [--project .] [--env ENV]

For each deployment (the feed alone, `--families feed`, and every family in one process) it starts
`socialml-serve` on loopback over the project's trained models (run `kedro run` first), then
drives GET /post/recommendations/ open-loop: requests leave on a fixed schedule at each rate whether
or not earlier ones have returned (as wrk2 and vegeta do), so a slow service shows up as latency
instead of being hidden by a client that waits (coordinated omission). The load generator (asyncio
and a hand-written keep-alive HTTP/1.1 client, `LoopbackHTTP`) runs on the same machine and shares its cores with the service. Each rate runs ``repeats``
times; the table gives the median of each figure over the repeats, the service's CPU time per
request, and its peak resident memory (sampled every 0.2 s). Writes benchmarks/results/serving.md.

``--reloads N`` measures reloads instead (benchmarks/results/serving_reload.md): the all-families
service under the same open-loop feed load, first without reloads, then while ``POST /admin/reload``
runs N times, ``interval`` seconds apart (0: back to back); it reports the feed's latency in both phases, failed requests, each
reload's duration, the feed's p99 while each new worker loads and in the 2 s after it takes over, and
the service's resident memory (supervisor, template and worker) after the first and after the last reload. Memory and CPU are the
whole process tree's: the supervisor, the template process and the workers forked from it.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import psutil

from socialml.serving.models import project_context

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "serving.md"
RELOAD_RESULTS = ROOT / "benchmarks" / "results" / "serving_reload.md"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DEPLOYMENTS = {"feed alone (--families feed)": "feed", "all families": "feed,topics,clusters,audience,cross_sell"}


def start_service(project: Path, env: str | None, port: int, families: str,
                  reload_token: str | None = None) -> subprocess.Popen:
    args = [sys.executable, "-m", "socialml.serving.supervisor", "--project", str(project), "--port", str(port),
            "--feed-log", str(Path(tempfile.mkdtemp()) / "feed_log.jsonl"), "--families", families]
    if env:
        args += ["--env", env]
    token = {"SOCIALML_RELOAD_TOKEN": reload_token} if reload_token else {}
    process = subprocess.Popen(args, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", **token})
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


class LoopbackHTTP:
    """GET over a pool of keep-alive HTTP/1.1 connections to one loopback server, written out by hand: httpx's
    async client spent about as much CPU per request as the service answering it, and on 2 shared cores the
    load generator then starves the service it measures (as wrk2, written in C, avoids)."""

    def __init__(self, port: int) -> None:
        self.port, self.idle = port, []

    async def get(self, path: str) -> int:
        """The response's status; a kept-alive connection the server has closed meanwhile is retried once on a
        new one, as HTTP clients do."""
        if self.idle:
            try:
                return await self._exchange(self.idle.pop(), path)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
        return await self._exchange(await asyncio.open_connection("127.0.0.1", self.port), path)

    async def _exchange(self, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], path: str) -> int:
        reader, writer = connection
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode())
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
            lengths = [int(line.split(":", 1)[1]) for line in head.split("\r\n") if line.startswith("content-length:")]
            if not lengths:
                raise ValueError("a response without Content-Length")
            await reader.readexactly(lengths[0])
        except BaseException:
            writer.close()
            raise
        if "connection: close" in head:
            writer.close()
        else:
            self.idle.append(connection)
        return int(head[9:12])

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


def load(port: int, rate: int, seconds: int, users: list[int], until: Any = None) -> dict:
    """Fire rate × seconds requests on schedule (or, given ``until``, an event, until it is set); latency from each
    request's scheduled start."""
    async def run() -> tuple[list[float], int, float]:
        latencies, failures = [], 0
        client = LoopbackHTTP(port)

        async def one(i: int, scheduled: float) -> None:
            nonlocal failures
            path = f"/post/recommendations/?id={quote(str(users[i % len(users)]))}"
            try:
                async with asyncio.timeout(30):
                    failures += await client.get(path) != 200
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                    ValueError):
                failures += 1
            latencies.append(time.perf_counter() - scheduled)
            sent_at.append(scheduled)

        start = time.perf_counter()
        tasks = []
        i = 0
        while (i < rate * seconds) if until is None else not until.is_set():
            scheduled = start + i / rate
            i += 1
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            tasks.append(asyncio.create_task(one(i - 1, scheduled)))
        await asyncio.gather(*tasks)
        client.close()
        return latencies, failures, time.perf_counter() - start

    sent_at: list[float] = []
    latencies, failures, elapsed = asyncio.run(run())
    ms = np.array(latencies) * 1000
    return {"requests": len(ms), "failures": failures, "rps": len(ms) / elapsed, "mean": float(ms.mean()),
            "sent_at": np.array(sent_at), "ms": ms,
            "p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "p99": float(np.percentile(ms, 99))}


def tree(process: psutil.Process) -> list[psutil.Process]:
    """The service's processes: the supervisor, its template process and the workers forked from it."""
    return [process, *process.children(recursive=True)]


def tree_rss(process: psutil.Process, proportional: bool = False) -> float:
    """Memory of the service's processes, MiB: resident (pages a worker shares with the template count twice),
    or ``proportional`` (PSS: a shared page counts once, split among its sharers)."""
    total = 0
    for member in tree(process):
        try:
            total += member.memory_full_info().pss if proportional else member.memory_info().rss
        except psutil.NoSuchProcess:  # a worker that just exited
            pass
    return total / 2**20


def tree_cpu(process: psutil.Process) -> float:
    """CPU seconds used by the service's processes (the ones alive now)."""
    total = 0.0
    for member in tree(process):
        try:
            times = member.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def one_worker(process: psutil.Process, timeout: float = 30.0) -> None:
    """Wait until the old worker of a reload has drained and exited (left: the template and one worker)."""
    deadline = time.monotonic() + timeout
    while len(process.children(recursive=True)) > 2 and time.monotonic() < deadline:
        time.sleep(0.1)


class PeakMemory:
    """Samples the service's resident memory in the background; ``peak`` in MiB."""

    def __init__(self, process: psutil.Process) -> None:
        self.process, self.peak, self._stop = process, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.process))
            time.sleep(0.2)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def measure(project: Path, env: str | None, families: str, rates: list[int], seconds: int, repeats: int,
            users: list[int]) -> tuple[float, list[str]]:
    port = free_port()
    service = start_service(project, env, port, families)
    process = psutil.Process(service.pid)
    idle_rss = tree_rss(process)
    rows = []
    try:
        load(port, 50, 2, users)  # warm the connection pool and the first code paths
        for rate in rates:
            runs = []
            for _ in range(repeats):
                cpu = tree_cpu(process)
                with PeakMemory(process) as memory:
                    result = load(port, rate, seconds, users)
                del result["sent_at"], result["ms"]  # per-request arrays: only the reload section reads them
                result["cpu_ms"] = (tree_cpu(process) - cpu) / result["requests"] * 1000
                result["rss"] = memory.peak
                runs.append(result)
            median = {key: float(np.median([run[key] for run in runs])) for key in runs[0]}
            rows.append(f"| {rate} | {median['rps']:.1f} | {int(median['requests'])} | "
                        f"{sum(run['failures'] for run in runs)} | {median['mean']:.1f} | {median['p50']:.1f} | "
                        f"{median['p95']:.1f} | {median['p99']:.1f} | {max(run['p99'] for run in runs):.1f} | "
                        f"{median['cpu_ms']:.2f} | {max(run['rss'] for run in runs):.0f} |")
            print(families, rows[-1], flush=True)
    finally:
        service.terminate()
        service.wait(timeout=30)
    return idle_rss, rows


def reload_loop(port: int, token: str, pid: int, reloads: int, interval: float, done, results) -> None:
    """POST /admin/reload ``reloads`` times, ``interval`` s apart, each after the last one's old worker has
    exited; puts (durations, statuses, RSS and PSS after each, (start, end) of each) on ``results``."""
    process = psutil.Process(pid)
    durations, statuses, rss, pss, windows = [], [], [], [], []
    with httpx.Client(timeout=600) as client:
        for number in range(reloads):
            time.sleep(interval if number else 0)
            started = time.perf_counter()  # CLOCK_MONOTONIC: comparable with the load generator's in the parent
            response = client.post(f"http://127.0.0.1:{port}/admin/reload", json={},
                                   headers={"Authorization": f"Bearer {token}"})
            windows.append((started, time.perf_counter()))
            durations.append(windows[-1][1] - started)
            statuses.append(response.status_code)
            one_worker(process)
            rss.append(tree_rss(process))
            pss.append(tree_rss(process, proportional=True))
            print(f"reload {len(durations)}: {response.status_code} in {durations[-1]:.1f} s, "
                  f"RSS {rss[-1]:.0f} MiB, PSS {pss[-1]:.0f} MiB", flush=True)
    results.put((durations, statuses, rss, pss, windows))
    done.set()


def measure_reloads(project: Path, env: str | None, reloads: int, interval: float, rate: int,
                    users: list[int]) -> list[str]:
    """The feed under load without reloads, then during ``reloads`` reloads ``interval`` s apart; memory after them."""
    port, token = free_port(), secrets.token_urlsafe()
    service = start_service(project, env, port, DEPLOYMENTS["all families"], reload_token=token)
    try:
        # Warm up at the measured rate while the template process imports the worker's libraries for the next
        # reload (at idle priority, but on these 2 cores it still showed in the first seconds' p99).
        load(port, rate, 20, users)
        steady = load(port, rate, 30, users)
        print("without reloads: p50 %.1f ms, p99 %.1f ms" % (steady["p50"], steady["p99"]), flush=True)
        # The reloads run in a process of their own: in a thread they shared the load generator's GIL, and
        # their memory readings (a walk of each process's page map) delayed requests the service had answered.
        context = multiprocessing.get_context("fork")
        done, results = context.Event(), context.Queue()
        reloader = context.Process(
            target=reload_loop, args=(port, token, service.pid, reloads, interval, done, results))
        reloader.start()
        during = load(port, rate, 0, users, until=done)
        durations, statuses, rss, pss, windows = results.get(timeout=60)
        reloader.join()
    finally:
        service.terminate()
        service.wait(timeout=30)
    def row(name: str, r: dict) -> str:
        return (f"| {name} | {r['rps']:.1f} | {r['requests']} | {r['failures']} | {r['p50']:.1f} | "
                f"{r['p95']:.1f} | {r['p99']:.1f} |")

    def p99(start: float, end: float) -> float:
        inside = during["ms"][(during["sent_at"] >= start) & (during["sent_at"] < end)]
        return float(np.percentile(inside, 99)) if len(inside) else float("nan")

    per_reload = [(p99(start, end), p99(end, end + 2)) for start, end in windows]
    loading = np.array([a for a, _ in per_reload])
    swapping = np.array([b for _, b in per_reload])
    spacing = f"{interval:g} s apart" if interval else "back to back"
    return [f"{reloads} reloads, {spacing}, while the feed is loaded at {rate} req/s (all families in one "
            "process). Latency of the feed in ms, as in serving.md; a request that gets no answer within 30 s "
            "counts as failed.", "",
            "| phase | achieved req/s | requests | failed requests | p50 | p95 | p99 |",
            "| --- | --- | --- | --- | --- | --- | --- |", row("without reloads (30 s)", steady),
            row(f"during {reloads} reloads ({sum(durations):.0f} s of reloading)", during), "",
            f"p99 during reloads / without: {during['p99'] / steady['p99']:.2f}. Reloads: "
            f"{sum(s == 200 for s in statuses)} of {len(statuses)} answered 200; duration median "
            f"{np.median(durations):.1f} s (min {min(durations):.1f}, max {max(durations):.1f}).", "",
            "Per reload, the feed's p99 (ms) while the new worker loads and in the 2 s after it takes over "
            f"(median over the reloads, then the worst): loading {np.nanmedian(loading):.1f} (worst "
            f"{np.nanmax(loading):.1f}), taking over {np.nanmedian(swapping):.1f} (worst {np.nanmax(swapping):.1f}); "
            f"reloads whose loading p99 stayed within 2x the p99 without reloads: "
            f"{int((loading <= 2 * steady['p99']).sum())} of {len(loading)}.", "",
            "Memory of the service (supervisor, template and worker, once the old worker has exited), resident "
            f"(RSS: pages the worker shares with the template counted twice) and proportional (PSS: counted once): "
            f"RSS {rss[0]:.0f} MiB after the first reload, {rss[-1]:.0f} MiB after reload {len(rss)} "
            f"({(rss[-1] / rss[0] - 1) * 100:+.1f} %), largest {max(rss):.0f} MiB; PSS {pss[0]:.0f} MiB after the "
            f"first, {pss[-1]:.0f} MiB after reload {len(pss)} ({(pss[-1] / pss[0] - 1) * 100:+.1f} %), "
            f"largest {max(pss):.0f} MiB."]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="50,100,200")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--project", default=str(ROOT))
    parser.add_argument("--env", default=None)
    parser.add_argument("--reloads", type=int, default=0, help="measure this many reloads instead")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between reloads (0: back to back)")
    parser.add_argument("--rate", type=int, default=200, help="feed load during the reloads, req/s")
    args = parser.parse_args()
    project = Path(args.project).resolve()
    rates = [int(r) for r in args.rates.split(",")]
    with project_context(project, args.env) as context:  # the environment's own tables (conf/test: data/test/)
        users = context.catalog.load("demo.prm_users")["user_id"].tolist()
    if args.reloads:
        lines = ["# Model service: reloads under load", "",
                 f"`.venv/bin/python benchmarks/bench_serving.py --reloads {args.reloads} --interval {args.interval:g} "
                 f"--rate {args.rate}`", "",
                 f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}.", "",
                 *measure_reloads(project, args.env, args.reloads, args.interval, args.rate, users)]
        RELOAD_RESULTS.write_text("\n".join(lines) + "\n")
        print(f"wrote {RELOAD_RESULTS}")
        return
    lines = ["# Model service under load", "",
             f"`.venv/bin/python benchmarks/bench_serving.py --rates {args.rates} --seconds {args.seconds} "
             f"--repeats {args.repeats}`", "",
             f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}. `socialml-serve` (a supervisor, its "
             "template process and one uvicorn worker forked from it) serving the demo platform's models (`kedro run`); an open-loop load generator on the same cores, users of the "
             "demo platform in turn, GET /post/recommendations/ (five posts). Latencies in ms from each request's "
             "scheduled start to its response (client side, loopback); each figure is the median of "
             f"{args.repeats} runs of {args.seconds} s, except failures (summed), worst p99 and peak RSS (the "
             "largest over the runs). CPU ms/request: the CPU time of the service's processes over requests served."]
    for title, families in DEPLOYMENTS.items():
        idle_rss, rows = measure(project, args.env, families, rates, args.seconds, args.repeats, users)
        lines += ["", f"## {title}", "", f"RSS after start-up (its models loaded, text encoders built where it serves them): {idle_rss:.0f} MiB.", "",
                  "| target req/s | achieved req/s | requests | failures | mean | p50 | p95 | p99 | worst p99 | "
                  "CPU ms/request | peak RSS MiB |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |", *rows]
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
