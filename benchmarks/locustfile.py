"""Locust load for the feed endpoint: each simulated user asks once a second for a random user's feed.

Used by bench_serving.py (users = the target request rate); the user ids come from SOCIALML_BENCH_USERS.
"""

from __future__ import annotations

import os
import random

from locust import HttpUser, constant_throughput, task

USER_IDS = [int(u) for u in os.environ.get("SOCIALML_BENCH_USERS", "107").split(",")]


class FeedReader(HttpUser):
    wait_time = constant_throughput(1)

    @task
    def feed(self) -> None:
        self.client.get("/post/recommendations/", params={"id": random.choice(USER_IDS), "limit": 5},
                        name="/post/recommendations/")
