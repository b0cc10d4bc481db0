"""The Feast store of the API: built once, registry refreshed off the request path."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from core.feast_store import open_store
from core.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger(__name__)


def open_serving_store(settings: Settings) -> FeatureStore:
    """A FeatureStore whose registry cache is refreshed by a background thread.

    In Feast's default `sync` cache mode an expired cache is re-read from the Postgres registry
    inside `get_online_features` (on the event loop, on the async path) and, while Postgres is
    down, retried on every request. `thread` mode refreshes every `cache_ttl_seconds` on a
    daemon thread instead, so a read never waits for the registry.
    """
    store = open_store(settings, refresh="thread")
    store.registry  # noqa: B018 - builds the registry (first read of Postgres) now, not per request
    return store
