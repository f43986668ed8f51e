"""Feature enrichment nodes: thin adapters over ``socialml.components.data.features``."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from socialml.components.data import features
from socialml.components.data.engines import ENGINES
from socialml.components.data.features import FeatureSnapshots
from socialml.components.recsys.post_feed.model import source_snapshot_times

logger = logging.getLogger(__name__)


def build_feed_snapshots(users, feed_events, posts, params: dict[str, Any], feed_settings: dict[str, Any] | None = None,
                         regions=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """User and post features as of every time the source's post feed reads them (its protocol's cuts
    and the end of the log), or as of the end of the log only."""
    timestamps = feed_events["timestamp"]
    times = source_snapshot_times(timestamps, feed_settings) if feed_settings else [timestamps.max()]
    if not times or any(pd.isna(t) for t in times):
        raise ValueError("prm_feed_events has no event time to compute features as of: the feed log is empty")
    logger.info("feature snapshots as of %s", ", ".join(str(t) for t in times))
    snapshots = FeatureSnapshots.build(users, feed_events, posts, times, regions, params["user_prior_strength"],
                                       params["post_prior_strength"], _engine(params, len(feed_events)))
    return snapshots.users, snapshots.posts


def _engine(params: dict[str, Any], n_events: int):
    engine = ENGINES.build(params["engine"])
    logger.info("aggregating %d feed events on %r", n_events, engine)
    return engine


def build_viewer_history(views, items) -> pd.DataFrame:
    return features.viewer_history(views, items)


def build_client_features(clients, holdings) -> pd.DataFrame:
    return features.client_features(clients, holdings)
