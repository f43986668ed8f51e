"""Recommenders: fit time, per-request latency and peak memory of each post-feed and cross-sell model;
cross-sell training time against data scale and AUC against epochs (seed 003's two tables).

    .venv/bin/python benchmarks/bench_recommenders.py [--sections feed,cross_sell,epochs] [--repeats 3]
                                                      [--scales 1000,10000,100000]

Every measurement runs in a fresh child process (this script with --worker), so peak RSS
(getrusage of the child) is the model's own. Data come from the demo generator (the default
`kedro run` sizes for the feed) and, for AUC by epochs, from ../shared/data/santander_sample
when it is there. Threads: 1 per model (SOCIALML_THREADS). Writes benchmarks/results/recommenders.md,
replacing only the sections it ran (each section names the command that made it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "recommenders.md"
SHARED = ROOT.parent / "shared" / "data"
FEED_MODELS = ("popularity", "ranker", "ranker_text")
CROSS_SELL_MODELS = ("popularity", "ncf", "lightfm", "catboost_per_product")


def _parameters() -> dict:
    from kedro.config import OmegaConfigLoader

    return OmegaConfigLoader(str(ROOT / "conf"), base_env="base", default_run_env="local")["parameters"]


def _demo(**sizes):
    from socialml.components.data.demo_platform import DemoPlatformConfig, generate_demo_platform

    return generate_demo_platform(DemoPlatformConfig(**sizes))


def _canonical_feed(platform: dict):
    import pandas as pd

    posts = platform["post_text"].rename(columns={"text": "doc_text", "image_text": "image2text",
                                                  "audio_text": "speech2text"})
    posts["topics"] = posts["topics"].str.split("|")
    users = platform["user_data"].query("age > 0").assign(gender=lambda d: d["gender"].map({0: "female", 1: "male"}))
    log = platform["feed_data"].query("user_id > 0").drop_duplicates(ignore_index=True)
    return log, posts, users.reset_index(drop=True), pd


def feed_worker(model_name: str, n_requests: int) -> dict:
    """Fit one post-feed variant on the demo feed, then time single requests (one user each)."""
    import numpy as np

    from socialml.components.text.encoders import TfidfSvdEncoder
    from socialml.components.recsys.post_feed.model import configured_model

    params = _parameters()["post_feed"]["sources"]["demo"]
    log, posts, users, pd = _canonical_feed(_demo(**_parameters()["demo_platform"]))
    # The text variant's embeddings: a fast offline encoder stands in for e5 here (fit time is the ranker's).
    text = (posts["doc_text"] + " " + posts["image2text"] + " " + posts["speech2text"]).tolist()
    vectors = pd.DataFrame(TfidfSvdEncoder(n_components=25).fit(text).encode(text))
    vectors.insert(0, "post_id", posts["post_id"].to_numpy())
    started = time.perf_counter()
    model = configured_model(params["models"][model_name], params).fit(log, posts, users, vectors)
    fit_seconds = time.perf_counter() - started
    rng = np.random.default_rng(0)
    user_ids = rng.choice(users["user_id"].to_numpy(), n_requests)
    now = log["timestamp"].max()
    served, framed = [], []  # the service's numpy path, and recommend() with a one-row DataFrame
    for i, user in enumerate(user_ids):
        started = time.perf_counter()
        model.rank_posts(np.array([user]), np.array([now.to_datetime64()]), k=5)
        served.append(time.perf_counter() - started)
        request = pd.DataFrame({"request_id": [i], "user_id": [user], "request_time": [now]})
        started = time.perf_counter()
        model.recommend(request, k=5)
        framed.append(time.perf_counter() - started)
    batch = pd.DataFrame({"request_id": range(len(user_ids)), "user_id": user_ids, "request_time": now})
    started = time.perf_counter()
    model.recommend(batch, k=5)
    batch_seconds = time.perf_counter() - started
    served_ms, framed_ms = np.array(served) * 1000, np.array(framed) * 1000
    return {"fit_s": fit_seconds, "p50_ms": float(np.percentile(served_ms, 50)),
            "p99_ms": float(np.percentile(served_ms, 99)), "frame_p50_ms": float(np.percentile(framed_ms, 50)),
            "batch_per_request_ms": 1000 * batch_seconds / n_requests}


def cross_sell_worker(model_name: str, n_clients: int, n_requests: int) -> dict:
    """Fit one cross-sell variant on the demo bank with n_clients clients; time single-client requests."""
    import numpy as np

    from socialml.components.recsys.cross_sell import CrossSellModel

    spec = _parameters()["cross_sell"]["sources"]["demo"]["models"][model_name]
    platform = _demo(n_users=10, n_posts=10, n_feed_events=10, n_clients=n_clients, answers_per_question=5,
                     n_sentiment_texts=10, n_videos=10, n_video_views=10)
    holdings = platform["client_products"].rename(columns={"product": "product_id", "opened_at": "since"})
    clients = platform["clients"]
    started = time.perf_counter()
    model = CrossSellModel.fit(spec, clients, holdings)
    fit_seconds = time.perf_counter() - started
    latencies = []
    for client in np.random.default_rng(0).choice(clients["client_id"].to_numpy(), n_requests):
        started = time.perf_counter()
        model.recommend([client], k=3)
        latencies.append(time.perf_counter() - started)
    latencies_ms = np.array(latencies) * 1000
    return {"fit_s": fit_seconds, "p50_ms": float(np.percentile(latencies_ms, 50)),
            "p99_ms": float(np.percentile(latencies_ms, 99)), "records": len(holdings),
            "items": int(holdings["product_id"].nunique())}


def epochs_worker(source: str, epochs: int) -> dict:
    """AUC of NCF and LightFM on the held-out products after each epoch (no early stopping)."""
    import numpy as np
    import pandas as pd

    from socialml.components.data.ingest import adapt, validate
    from socialml.components.evaluation.protocols import hide_one_product
    from socialml.components.recsys import cross_sell

    if source == "santander_sample":
        params = _parameters()
        layout = params["ingestion"]["layouts"]["santander_sample"]
        raw = {"santander": pd.read_csv(SHARED / "santander_sample" / "train_ver2_first9999.csv", dtype=str,
                                        keep_default_na=False)}
        clients, _ = validate("clients", adapt("clients", layout["clients"], raw))
        holdings, _ = validate("holdings", adapt("holdings", layout["holdings"], raw), {"clients": clients})
    else:
        platform = _demo(n_users=10, n_posts=10, n_feed_events=10, answers_per_question=5, n_sentiment_texts=10,
                         n_videos=10, n_video_views=10)
        clients = platform["clients"]
        holdings = platform["client_products"].rename(columns={"product": "product_id", "opened_at": "since"})
    visible, hidden = hide_one_product(holdings, 2, 0)
    products = pd.Index(np.unique(holdings["product_id"]))
    spec = _parameters()["cross_sell"]["sources"]["demo"]["models"]
    out = {"clients": int(clients["client_id"].nunique()), "records": len(visible), "items": len(products)}
    for name in ("ncf", "lightfm"):
        _, _, curve = cross_sell.evaluate({**spec[name], "epochs": epochs}, clients, visible, hidden, products, [3])
        out[name] = {entry["epoch"]: entry["auc"] for entry in curve}
    return out


def child(*args: str) -> tuple[dict, float]:
    """Run this script as a worker; its JSON answer and its peak RSS in MiB."""
    env = {**os.environ, "SOCIALML_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, __file__, "--worker", *args], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    out, err = process.stdout.read(), process.stderr.read()
    if os.waitstatus_to_exitcode(status):
        sys.exit(err[-4000:])
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def median_of(runs: list[tuple[dict, float]], key: str) -> float:
    return statistics.median(result[key] for result, _ in runs)


SECTIONS = ("feed", "cross_sell", "epochs")


def feed_section(args) -> list[str]:
    demo = _parameters()["demo_platform"]
    lines = [f"## Post feed on the demo platform ({demo['n_users']} users, {demo['n_posts']} posts, "
             f"{demo['n_feed_events']:,} feed events)", "",
             f"`.venv/bin/python benchmarks/bench_recommenders.py --sections feed --repeats {args.repeats} "
             f"--requests {args.requests}`", "",
             "Fit on the whole log; latency of one request (one user, five posts) over "
             f"{args.requests} random users through `rank_posts` (the service's path), and through `recommend` "
             "with a one-row DataFrame in the same run; batch = all of them in one `recommend` call.", "",
             "| model | fit s | p50 ms | p99 ms | DataFrame p50 ms | batch ms/request | peak RSS MiB |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name in FEED_MODELS:
        runs = [child("feed", name, str(args.requests)) for _ in range(args.repeats)]
        lines.append(f"| {name} | {median_of(runs, 'fit_s'):.1f} | {median_of(runs, 'p50_ms'):.2f} | "
                     f"{median_of(runs, 'p99_ms'):.2f} | {median_of(runs, 'frame_p50_ms'):.2f} | "
                     f"{median_of(runs, 'batch_per_request_ms'):.2f} | {statistics.median(rss for _, rss in runs):.0f} |")
        print(lines[-1], flush=True)
    return lines


def cross_sell_section(args) -> list[str]:
    lines = ["## Cross-sell: training time against data scale (seed 003's first table)", "",
             f"`.venv/bin/python benchmarks/bench_recommenders.py --sections cross_sell --repeats {args.repeats} "
             f"--requests {args.requests} --scales {args.scales}`", "",
             "Demo bank (12 products); fit includes the epoch selection on an inner hidden product for NCF and "
             "LightFM (two trainings), and 5 cross-fitting folds are not used (one fit on all clients).", "",
             "| model | clients | items | records | fit s | records/s | p50 ms | p99 ms | peak RSS MiB |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for scale in [int(s) for s in args.scales.split(",")]:
        for name in CROSS_SELL_MODELS:
            runs = [child("cross_sell", name, str(scale), str(args.requests)) for _ in range(args.repeats)]
            records, fit = runs[0][0]["records"], median_of(runs, "fit_s")
            lines.append(f"| {name} | {scale:,} | {runs[0][0]['items']} | {records:,} | {fit:.1f} | "
                         f"{records / max(fit, 1e-9):,.0f} | {median_of(runs, 'p50_ms'):.2f} | "
                         f"{median_of(runs, 'p99_ms'):.2f} | {statistics.median(rss for _, rss in runs):.0f} |")
            print(lines[-1], flush=True)
    return lines


def epochs_section(args) -> list[str]:
    sources = ["demo"] + (["santander_sample"] if (SHARED / "santander_sample").exists() else [])
    marks = [e for e in (1, 2, 5, 10, 20, 30, 50, 100) if e <= args.epochs]
    lines = ["## Cross-sell: AUC per client against epochs (seed 003's second table)", "",
             f"`.venv/bin/python benchmarks/bench_recommenders.py --sections epochs --epochs {args.epochs}`", "",
             "One run each; AUC on the hidden products after each epoch, without early stopping (the pipeline "
             "stops at the best epoch on a second, inner hidden product).", "",
             "| data | clients | items | records | model | " + " | ".join(f"epoch {e}" for e in marks) + " |",
             "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in marks) + " |"]
    for source in sources:
        result, _ = child("epochs", source, str(args.epochs))
        for name in ("ncf", "lightfm"):
            curve = {int(k): v for k, v in result[name].items()}
            lines.append(f"| {source} | {result['clients']:,} | {result['items']} | {result['records']:,} | {name} | "
                         + " | ".join(f"{curve[e]:.3f}" for e in marks) + " |")
            print(lines[-1], flush=True)
    return lines


def previous_sections() -> dict[str, str]:
    """The sections of the results file as it stands, by name (they come in SECTIONS order)."""
    if not RESULTS.exists():
        return {}
    parts = RESULTS.read_text().split("\n## ")[1:]
    return {name: "## " + part.rstrip("\n") for name, part in zip(SECTIONS, parts)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--scales", default="1000,10000,100000")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--worker", nargs="+")
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        worker = {"feed": lambda: feed_worker(rest[0], int(rest[1])),
                  "cross_sell": lambda: cross_sell_worker(rest[0], int(rest[1]), int(rest[2])),
                  "epochs": lambda: epochs_worker(rest[0], int(rest[1]))}[kind]
        print(json.dumps(worker()))
        return

    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    if unknown := set(chosen) - set(SECTIONS):
        parser.error(f"unknown sections {sorted(unknown)}; choose from {','.join(SECTIONS)}")
    builders = {"feed": feed_section, "cross_sell": cross_sell_section, "epochs": epochs_section}
    sections = previous_sections()
    for name in chosen:
        sections[name] = "\n".join(builders[name](args))
    header = ["# Recommender benchmarks", "",
              f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
              f"{platform.python_version()}; one thread per model; medians of the runs each section names, each "
              "in a fresh process (peak RSS is that process's, data generation included).", ""]
    RESULTS.write_text("\n".join(header) + "\n" + "\n\n".join(sections[n] for n in SECTIONS if n in sections) + "\n")
    print(f"wrote {RESULTS} (peak RSS of this process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
