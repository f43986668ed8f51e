"""Feature enrichment nodes: thin adapters over ``socialml.components.data.features``."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from socialml.components.core.errors import DataStop
from socialml.components.data import features
from socialml.components.data.engines import ENGINES
from socialml.components.data.features import FeatureSnapshots
from socialml.components.recsys.post_feed.model import source_snapshot_times

logger = logging.getLogger(__name__)


def build_feed_snapshots(users, feed_events, posts, params: dict[str, Any], engine: dict[str, Any],
                         feed_settings: dict[str, Any] | None = None,
                         regions=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """User and post features as of every time the source's post feed reads them (its protocol's cuts
    and the end of the log), or as of the end of the log only.

    ``feed_events`` is the primary feed log on the engine (or a pandas frame); only its timestamps come into
    memory, for the protocol's cuts.
    """
    built = ENGINES.build(engine)
    timestamps = (feed_events["timestamp"] if isinstance(feed_events, pd.DataFrame)
                  else built.run(built.owns(feed_events).select("timestamp"))["timestamp"])
    times = source_snapshot_times(timestamps, feed_settings) if feed_settings else [timestamps.max()]
    if not times or any(pd.isna(t) for t in times):
        raise DataStop("prm_feed_events has no event time to compute features as of: the feed log is empty")
    logger.info("feature snapshots as of %s; aggregating %d feed events on %r", ", ".join(str(t) for t in times),
                len(timestamps), built)
    snapshots = FeatureSnapshots.build(users, feed_events, posts, times, regions, params["user_prior_strength"],
                                       params["post_prior_strength"], built)
    return snapshots.users, snapshots.posts


def build_viewer_history(views, items, engine: dict[str, Any]) -> pd.DataFrame:
    """Per-user viewing aggregates on the engine, over the primary views table where ingestion wrote it."""
    built = ENGINES.build(engine)
    logger.info("viewing histories on %r", built)
    return features.viewer_history(views, items, engine=built)


def build_client_features(clients, holdings) -> pd.DataFrame:
    return features.client_features(clients, holdings)
