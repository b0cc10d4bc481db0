"""`LiveHub`: one subscription to the feed, fanned out to many browser connections.

A connection gets the updates of the entities it watches as soon as they arrive, and every
TICK_S a snapshot (rates, freshness, recent updates with masked keys) whose size does not grow
with the event rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from core.contract import VIEWS
from core.live.feed import LiveFeed
from core.live.messages import OnlineUpdate
from core.live.stats import FeedStats, RecentUpdates
from core.settings import Settings

log = logging.getLogger(__name__)

TICK_S = 0.5
RECENT_PER_VIEW = 12
MAX_PENDING = 1_000  # updates queued for one slow connection before it is told to resync
WatchKey = tuple[str, Any]  # (entity join key name, key)


def _ms(update_time: Any) -> float:
    return float(update_time.timestamp() * 1000)


def update_message(update: OnlineUpdate) -> dict[str, Any]:
    """A watched entity's update, for the connection that watches it (key in clear)."""
    return {
        "type": "update",
        "view": update.view,
        "entity": update.entity,
        "key": update.key,
        "event_id": update.event_id,
        "event_ts": _ms(update.event_timestamp),
        "written_at": _ms(update.written_at),
        "lag_ms": update.lag_ms,
        "values": update.values,
    }


def recent_row(update: OnlineUpdate) -> dict[str, Any]:
    """An update for the shared list of recent events: the key masked."""
    return {
        "key": update.masked_key,
        "event_id": update.event_id,
        "event_ts": _ms(update.event_timestamp),
        "written_at": _ms(update.written_at),
        "lag_ms": update.lag_ms,
        "values": update.values,
    }


class LiveClient:
    """One connection: the entities it watches and the messages waiting to be sent to it."""

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.watching: set[WatchKey] = set()
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(max_pending)
        self.overflowed = False

    def offer(self, message: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # Dropping silently would leave stale values on screen: the page re-reads instead.
            self.overflowed = True


class LiveHub:
    """The feed of one API process: statistics, recent updates, watched-entity routing."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.feed = LiveFeed(settings, on_subscribed=self._on_subscribed)
        self.stats = FeedStats(clock)
        self.recent = RecentUpdates(RECENT_PER_VIEW)
        self._clock = clock
        self._clients: set[LiveClient] = set()
        self._index: dict[WatchKey, set[LiveClient]] = {}
        self._task: asyncio.Task[None] | None = None
        self._snapshot: tuple[float, dict[str, Any]] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="live-hub")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        try:
            async for batch in self.feed.batches():
                self.observe(batch)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug here must not take the scoring API down with it: the page goes quiet.
            log.exception("live feed stopped")

    def observe(self, batch: Sequence[OnlineUpdate]) -> None:
        """Count a batch and route its updates to the connections watching their entities."""
        self.stats.observe(batch)
        self.recent.add(batch)
        if not self._index:
            return
        for update in batch:
            clients = self._index.get((update.entity, update.key))
            if clients:
                message = update_message(update)
                for client in clients:
                    client.offer(message)

    # -- connections -------------------------------------------------------------------------

    def connect(self) -> LiveClient:
        client = LiveClient()
        self._clients.add(client)
        return client

    def disconnect(self, client: LiveClient) -> None:
        self.watch(client, ())
        self._clients.discard(client)

    def watch(self, client: LiveClient, keys: Iterable[WatchKey]) -> None:
        """Replace the entities `client` watches."""
        for key in client.watching:
            watchers = self._index.get(key)
            if watchers is not None:
                watchers.discard(client)
                if not watchers:
                    del self._index[key]
        client.watching = set(keys)
        for key in client.watching:
            self._index.setdefault(key, set()).add(client)

    def _on_subscribed(self, resubscribed: bool) -> None:
        if resubscribed:  # updates were lost during the outage
            for client in self._clients:
                client.offer({"type": "resync"})

    # -- snapshot ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Rates, freshness and recent updates (keys masked); computed at most once per tick."""
        now = self._clock()
        if self._snapshot is not None and now - self._snapshot[0] < TICK_S / 2:
            return self._snapshot[1]
        summary = self.stats.summary()
        document = {
            "type": "tick",
            "now": now * 1000,
            "subscribed": self.feed.subscribed.is_set(),
            "summary": {
                "rate": summary.rate,
                "rate_by_view": summary.rate_by_view,
                "lag_p50_ms": summary.lag_p50_ms,
                "lag_p99_ms": summary.lag_p99_ms,
                "total": summary.total,
            },
            "series": [
                [p.second, p.events, p.lag_p50_ms, p.lag_p99_ms] for p in self.stats.series()
            ],
            "recent": {v.name: [recent_row(u) for u in self.recent.of(v.name)] for v in VIEWS},
        }
        self._snapshot = (now, document)
        return document
