"""The model families the service can serve: each a module with its loaded state, a loader and a router.

A family is added by writing one module here with

* ``load(context: LoadContext) -> state``: the family's models (``context.model(family)``) and tables;
* ``router(current: Callable[[], state], options: ServiceOptions) -> APIRouter``: its endpoints, which
  call ``current()`` on each request for the state of the model set being served,

and one line in ``FAMILIES``. The service routes and loads only the families it is started with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from fastapi import APIRouter

from socialml.serving.families import audience, clusters, cross_sell, feed, topics
from socialml.serving.loading import LoadContext, ServiceOptions


@dataclass(frozen=True)
class Family:
    load: Callable[[LoadContext], Any]
    router: Callable[[Callable[[], Any], ServiceOptions], APIRouter]


FAMILIES: dict[str, Family] = {
    "feed": Family(feed.load, feed.router),
    "topics": Family(topics.load, topics.router),
    "clusters": Family(clusters.load, clusters.router),
    "audience": Family(audience.load, audience.router),
    "cross_sell": Family(cross_sell.load, cross_sell.router),
}


def checked_families(families: Iterable[str]) -> tuple[str, ...]:
    """The families named, each once; unknown ones (or none) are a ValueError that names them."""
    families = tuple(dict.fromkeys(families))
    unknown = set(families) - set(FAMILIES)
    if unknown or not families:
        raise ValueError(f"unknown families {sorted(unknown)}; choose from {','.join(FAMILIES)}")
    return families
