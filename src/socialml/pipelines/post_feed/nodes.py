"""Post feed nodes (seed 004): split the feed log, evaluate each variant on held-out requests, fit it on all."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from socialml.components.core.errors import DataStop
from socialml.components.data.features import FeatureSnapshots
from socialml.components.evaluation.ab_test import compare_groups, served_hits
from socialml.components.evaluation.charts import ab_test_figure
from socialml.components.evaluation.metrics import (
    bootstrap_intervals, comparison_reference, feed_scores, feed_top_k, interval_columns, ranking_per_request,
)
from socialml.components.evaluation.protocols import split_feed
from socialml.components.evaluation.tables import comparison_table, metric_payload
from socialml.components.recsys.post_feed import PostFeedModel
from socialml.components.recsys.post_feed.model import configured_model

logger = logging.getLogger(__name__)


def split_post_feed(feed_events: pd.DataFrame, settings: dict[str, Any]
                    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The history models learn from, the held-out requests, and each request's relevant posts."""
    positive = settings["positive_action"]
    if not feed_events["action"].eq(positive).any():
        actions = feed_events["action"].value_counts().to_dict()
        raise DataStop(f"feed_events: no event is a '{positive}' (the log's actions: {actions}), and the post feed "
                       f"learns what users '{positive}': set post_feed's positive_action to one the log has")
    split = split_feed(feed_events, settings["split"], positive)
    if split.requests.empty:
        raise DataStop(f"the split {settings['split']} leaves no request with a '{positive}' after the cut: "
                       "move the cut earlier")
    logger.info("post feed split: %d history events, %d requests, %d relevant posts",
                len(split.history), len(split.requests), len(split.targets))
    return split.history, split.requests, split.targets


def evaluate_post_feed(history: pd.DataFrame, requests: pd.DataFrame, posts: pd.DataFrame, users: pd.DataFrame,
                       spec: dict[str, Any], settings: dict[str, Any], post_vectors: pd.DataFrame | None = None,
                       user_snapshots: pd.DataFrame | None = None, post_snapshots: pd.DataFrame | None = None
                       ) -> pd.DataFrame:
    """Recommendations for the held-out requests from the variant fitted on the history only."""
    model = configured_model(spec, settings).fit(history, posts, users, post_vectors,
                                                 _snapshots(user_snapshots, post_snapshots))
    return model.recommend(requests, max(settings["k"]))


def fit_post_feed(feed_events: pd.DataFrame, posts: pd.DataFrame, users: pd.DataFrame, spec: dict[str, Any],
                  settings: dict[str, Any], post_vectors: pd.DataFrame | None = None,
                  user_snapshots: pd.DataFrame | None = None, post_snapshots: pd.DataFrame | None = None
                  ) -> tuple[PostFeedModel, pd.DataFrame]:
    """The variant fitted on the whole feed log (what serving loads: features as of the log's end), and
    its ranker's feature importance."""
    model = configured_model(spec, settings).fit(feed_events, posts, users, post_vectors,
                                                 _snapshots(user_snapshots, post_snapshots))
    return model, model.feature_importance()


def _snapshots(users: pd.DataFrame | None, posts: pd.DataFrame | None) -> FeatureSnapshots | None:
    return None if users is None else FeatureSnapshots(users, posts)


def score_post_feed(recommendations: pd.DataFrame, requests: pd.DataFrame, targets: pd.DataFrame,
                    posts: pd.DataFrame, settings: dict[str, Any]) -> dict[str, float]:
    """HitRate@k, NDCG@k and catalogue coverage@k over every held-out request (no answer = a miss)."""
    return feed_scores(recommendations, requests, targets, settings["k"], len(posts))


def post_feed_intervals(requests: pd.DataFrame, targets: pd.DataFrame, settings: dict[str, Any],
                        **recommendations: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per model, 95 % bootstrap intervals (requests resampled, the same draws for every model) of HitRate@k
    and NDCG@k, and the gain of its first HitRate over the baseline's (``baseline``, else the first model)
    with the paired interval."""
    baseline, runs = comparison_reference(settings, list(recommendations))
    k_values = settings["k"]
    per_request = {name: ranking_per_request(*feed_top_k(frame, requests, targets, max(k_values)), k_values)
                   for name, frame in recommendations.items()}
    first = f"hit_rate_at_{k_values[0]}"
    base = per_request[baseline][first].to_numpy()
    out = {}
    for name, rows in per_request.items():
        values = rows.to_numpy()
        gain = rows[first].to_numpy() - base

        def score(draw: np.ndarray, values: np.ndarray = values, gain: np.ndarray = gain) -> dict[str, float]:
            return {**dict(zip(rows.columns, values[draw].mean(axis=0))), "gain": float(gain[draw].mean())}

        intervals = bootstrap_intervals(score, len(rows), runs=runs)
        out[name] = interval_columns(intervals, gain.mean(), baseline)
    return out


def compare_post_feed_models(intervals: dict[str, dict[str, float]], **scores: dict[str, float]
                             ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per variant, best first by the first HitRate@k, with its intervals, and the MLflow metrics of each."""
    first_hit_rate = next(key for key in next(iter(scores.values())) if key.startswith("hit_rate_at_"))
    return comparison_table([{"model": name, **s, **intervals[name]} for name, s in scores.items()],
                            first_hit_rate, "post_feed")


def compare_ab_groups(feed_log: pd.DataFrame, feed_events: pd.DataFrame, ab_test: dict[str, Any],
                      settings: dict[str, Any]) -> tuple[dict[str, float], dict[str, Any], Any]:
    """HitRate of each A/B group over the feeds the service served, with a two-proportion z-test.

    A served feed is a hit if its user acts positively on any of its posts within
    ``ab_test.horizon_hours`` after it was served (the feed log's requests, matched to the feed log
    of actions the platform recorded since).
    """
    if feed_log.empty:
        raise DataStop("the feed log is empty: serve some feeds (socialml-serve) before comparing the groups")
    served = feed_log.assign(request_id=np.arange(len(feed_log)),
                             timestamp=pd.to_datetime(feed_log["timestamp"], format="ISO8601"))
    hits = served_hits(served, feed_events, settings["positive_action"], ab_test["horizon_hours"])
    result = compare_groups(hits)
    # JSON has no NaN: a rate or test that cannot be computed (a group without feeds, no hit at all) is null.
    report = {key: None if np.isnan(value) else value for key, value in result.items()}
    report.update({"control_model": ab_test["control"], "test_model": ab_test["test"]})
    return report, metric_payload("ab_test", result), ab_test_figure(result)
