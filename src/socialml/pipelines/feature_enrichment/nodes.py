"""Feature enrichment nodes: thin adapters over ``socialml.components.data.features``."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from socialml.components.data import features
from socialml.components.data.engines import ENGINES

logger = logging.getLogger(__name__)


def build_user_features(users, feed_events, posts, params: dict[str, Any], regions=None) -> pd.DataFrame:
    return features.user_features(users, feed_events, posts, regions, prior_strength=params["user_prior_strength"],
                                  engine=_engine(params, len(feed_events)))


def build_post_features(posts, feed_events, params: dict[str, Any]) -> pd.DataFrame:
    return features.post_features(posts, feed_events, prior_strength=params["post_prior_strength"],
                                  engine=_engine(params, len(feed_events)))


def _engine(params: dict[str, Any], n_events: int):
    engine = ENGINES.build(params["engine"])
    logger.info("aggregating %d feed events on %r", n_events, engine)
    return engine


def build_viewer_history(views, items) -> pd.DataFrame:
    return features.viewer_history(views, items)


def build_client_features(clients, holdings) -> pd.DataFrame:
    return features.client_features(clients, holdings)
