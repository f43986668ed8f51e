"""A data set the project has never seen, with string ids and damaged rows, run by configuration only (slow).

The test writes what a user would: raw CSV files in their own folder and a Kedro environment
(``conf/shop``) with a catalog entry per file, a layout, and the post feed and cross-sell settings.
No code changes: ingestion, enrichment, embeddings, the post feed and cross-sell train on it.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import copy_project, kedro_env, run_kedro
from tests.test_end_to_end import latest_version

pytestmark = pytest.mark.slow
SERVICES = ["PhoneService", "MultipleLines", "OnlineSecurity", "OnlineBackup", "StreamingTV", "StreamingMovies"]


def write_shop(folder: Path, seed: int = 0) -> dict[str, int]:
    """Raw files of a shop: UUID users, hashed item ids listed on a date with a Russian month name and a time
    apart ("1 января 2025 г.", "12:30"), an event log split into a file per month (its damaged rows in the last)
    with times as Excel's Russian export writes them (07.02.2025 14:05:09), all in Moscow time without a zone,
    "7590-VHVEG" customers, Yes/No services."""
    rng = np.random.default_rng(seed)
    users = [str(uuid.UUID(int=int(rng.integers(2**62)))) for _ in range(60)]
    items = [f"{int(rng.integers(16**8)):08x}" for _ in range(40)]
    pd.DataFrame({"uid": users, "age": rng.integers(16, 70, 60), "sex": rng.choice(["F", "M"], 60)}).to_csv(
        folder / "users.csv", index=False)
    pd.DataFrame({"sku": items, "title": [f"товар {i} категории {i % 5}" for i in range(40)],
                  "category": [f"cat{i % 5}" for i in range(40)],
                  "listed": "1 января 2025 г.", "at": "12:30"}).to_csv(folder / "items.csv", index=False)
    n = 3000
    taste = rng.integers(0, 5, 60)
    user_pos = rng.integers(0, 60, n)
    item_pos = np.where(rng.random(n) < 0.6, taste[user_pos] + 5 * rng.integers(0, 8, n), rng.integers(0, 40, n))
    times = pd.Timestamp("2025-02-01") + pd.to_timedelta(np.sort(rng.uniform(0, 60 * 86400, n)), unit="s")
    events = pd.DataFrame({"event_time": times.strftime("%d.%m.%Y %H:%M:%S"), "visitor": np.array(users)[user_pos],
                           "sku": np.array(items)[item_pos],
                           "event": np.where(rng.random(n) < 0.25, "favourite", "open")})
    damaged = pd.DataFrame({"event_time": ["3000-01-01T00:00:00", "вчера", events["event_time"].iloc[0]],
                            "visitor": [users[0], users[1], "not-a-known-visitor"], "sku": items[:3],
                            "event": ["open", "open", "open"]})
    log = pd.concat([events, damaged, events.head(2)], ignore_index=True)
    (folder / "events").mkdir()
    for month, rows in log.groupby(np.minimum(np.arange(len(log)) // 1000, 2)):  # the damaged rows in the last
        rows.to_csv(folder / "events" / f"2025-0{month + 2}.csv", index=False)
    customers = [f"{int(rng.integers(10_000)):04d}-{''.join(rng.choice(list('ABCDEFGHIJKLMNOPQRSTUVWXYZ'), 5))}"
                 for _ in range(150)]
    pd.DataFrame({"customerID": customers + [" ", customers[0]], "tenure": list(rng.integers(1, 72, 150)) + [5, 6],
                  "Contract": list(rng.choice(["Month-to-month", "One year", "Two year"], 150)) + ["One year"] * 2}
                 ).to_csv(folder / "customers.csv", index=False)
    chain = rng.random((150, len(SERVICES))) < np.linspace(0.8, 0.2, len(SERVICES))
    services = pd.DataFrame(np.where(chain, "Yes", "No"), columns=SERVICES)
    services.insert(0, "customerID", customers)
    services.to_csv(folder / "services.csv", index=False)
    return {"events": n + len(damaged) + 2, "customers": 152}


def write_environment(project: Path, data: Path) -> None:
    conf = project / "conf" / "shop"
    conf.mkdir()
    catalog = {f"shop.raw_{name}": {"type": "pandas.CSVDataset", "filepath": str(data / f"{name}.csv")}
               for name in ("users", "items", "customers", "services")}
    catalog["shop.raw_events"] = {"type": "partitions.PartitionedDataset", "path": str(data / "events"),
                                  "dataset": "pandas.CSVDataset", "filename_suffix": ".csv"}
    layout = {
        "users": {"raw": "users", "columns": {"user_id": "uid", "age": "age", "gender": "sex"},
                  "values": {"gender": {"F": "female", "M": "male"}}},
        "posts": {"raw": "items", "columns": {"post_id": "sku", "doc_text": "title", "created_at": ["listed", "at"]},
                  "labels": {"column": "category"}, "time_zone": "Europe/Moscow"},
        "feed_events": {"raw": "events", "columns": {"timestamp": "event_time", "user_id": "visitor", "post_id": "sku",
                                                     "action": "event"},
                        "values": {"action": {"open": "view", "favourite": "like"}}, "time_zone": "Europe/Moscow"},
        "clients": {"raw": "customers", "columns": {"client_id": "customerID"}, "keep": ["tenure", "Contract"]},
        "holdings": {"raw": "services", "columns": {"client_id": "customerID"},
                     "melt": {"columns": SERVICES, "id": "client_id", "held": ["Yes"]}},
    }
    parameters = {
        "sources": {"shop": {"layout": "shop"}},
        "ingestion": {"checks": {"time_min": "2020-01-01", "max_rejected_share": 0.05, "min_accepted_rows": 1},
                      "layouts": {"shop": layout}},
        "post_feed": {
            "sources": {"shop": {"positive_action": "like", "exclude": "positives",
                                 "split": {"kind": "time_split", "test_share": 0.2}, "k": [5],
                                 "models": {"popularity": {"generators": {"recent_popularity": {"kind": "recent_popularity"}}},
                                            "ranker": {"generators": {"recent_popularity": {"kind": "recent_popularity"},
                                                                      "topic_match": {"kind": "topic_match"},
                                                                      "als": {"kind": "als", "factors": 8, "iterations": 3},
                                                                      "ease": {"kind": "ease", "l2": 10.0}},
                                                       "candidates": 15, "ranker": {"kind": "catboost", "iterations": 20, "depth": 3},
                                                       "protocol": {"kind": "time_split", "test_share": 0.3}}}}},
        },
        "cross_sell": {"sources": {"shop": {"evaluation": {"min_products": 2, "seed": 0}, "k": [3],
                                            "models": {"popularity": {"kind": "popularity"},
                                                       "catboost_per_product": {"kind": "per_item_boosting",
                                                                                "iterations": 30, "depth": 3,
                                                                                "cross_fit_folds": 3}}}}},
    }
    (conf / "catalog_shop.yml").write_text(yaml.safe_dump(catalog, allow_unicode=True))
    # Only the families this shop runs (no A/B test, no topics, no answers): the others need no entries.
    for group, keys in {"ingestion": ["sources", "ingestion"], "post_feed": ["post_feed"],
                        "cross_sell": ["cross_sell"]}.items():
        (conf / f"parameters_{group}.yml").write_text(yaml.safe_dump({k: parameters[k] for k in keys},
                                                                     allow_unicode=True))


def test_an_unseen_shop_with_string_ids_and_damaged_rows_runs_by_configuration_only(tmp_path):
    project = copy_project(tmp_path / "project")
    data = tmp_path / "shop_data"
    data.mkdir()
    raw_rows = write_shop(data)
    write_environment(project, data)
    run_kedro(project, "run", "--env", "shop")

    reporting = project / "data" / "08_reporting" / "shop"
    report = pd.read_csv(latest_version(reporting / "ingestion_report.csv")).set_index("table")
    assert report["balanced"].all()
    assert report.loc["feed_events", "raw_rows"] == raw_rows["events"]
    rejected = pd.read_parquet(project / "data" / "03_primary" / "shop" / "rejected_feed_events.parquet")
    reasons = rejected["reason"].tolist()
    assert any(r.startswith("timestamp: outside the plausible time window") and "'3000-01-01T00:00:00'" in r for r in reasons)
    assert "timestamp: not a date or time (got 'вчера')" in reasons
    assert "user_id: not in users (got 'not-a-known-visitor')" in reasons
    assert sum(r.startswith("duplicate of an earlier row") for r in reasons) == 2
    assert set(rejected["raw"]) == {"events/2025-04"}  # each rejected row names its file (the last month's)
    feed_times = pd.read_parquet(project / "data" / "03_primary" / "shop" / "feed_events.parquet")["timestamp"]
    # day first in every row (read one by one, 07.02.2025 would have been 2 July beside 13.02.2025 as 13 February),
    # and in UTC: Moscow's times three hours earlier
    assert feed_times.between(pd.Timestamp("2025-01-31 21:00"), pd.Timestamp("2025-04-01 21:00")).all()
    assert feed_times.min() < pd.Timestamp("2025-02-01")
    posts = pd.read_parquet(project / "data" / "03_primary" / "shop" / "posts.parquet")
    assert len(posts) == 40 and posts["created_at"].eq(pd.Timestamp("2025-01-01 09:30")).all()
    clients = pd.read_parquet(project / "data" / "03_primary" / "shop" / "clients.parquet")
    assert len(clients) == 150 and clients["client_id"].str.fullmatch(r"\d{4}-[A-Z]{5}").all()
    rejected_clients = pd.read_parquet(project / "data" / "03_primary" / "shop" / "rejected_clients.parquet")
    assert sorted(r.split(" (")[0] for r in rejected_clients["reason"]) == [
        "client_id: missing value", "duplicate of an earlier row on key ['client_id']"]

    feed = pd.read_csv(latest_version(reporting / "post_feed_comparison.csv")).set_index("model")
    assert set(feed.index) == {"popularity", "ranker"} and feed["requests"].gt(0).all()
    assert feed["hit_rate_at_5"].between(0, 1).all()
    cross_sell = pd.read_csv(latest_version(reporting / "cross_sell_comparison.csv")).set_index("model")
    assert cross_sell["auc_per_client"].between(0.5, 1).all() and cross_sell["clients_scored"].gt(100).all()
    models = project / "data" / "06_models" / "shop"
    assert latest_version(models / "post_feed" / "ranker.pkl").stat().st_size > 0
    assert latest_version(models / "cross_sell" / "catboost_per_product.pkl").stat().st_size > 0


def test_a_shop_log_without_the_positive_action_stops_the_run_naming_what_the_log_has(tmp_path):
    project = copy_project(tmp_path / "project")
    data = tmp_path / "shop_data"
    data.mkdir()
    write_shop(data)
    for month in (data / "events").iterdir():  # views only: nobody marked a favourite
        pd.read_csv(month).assign(event="open").to_csv(month, index=False)
    write_environment(project, data)
    result = subprocess.run([sys.executable, "-m", "kedro", "run", "--env", "shop"], cwd=project, env=kedro_env(),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith(
        "stopped: feed_events: no event is a 'like' (the log's actions: {'view': ")
