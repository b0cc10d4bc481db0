"""Best-effort announcements of online writes on Redis pub/sub (the live page and `watch`).

After a view's batch is in the online store, the pipeline hands it to `notify`, which only
queues it: the batch never waits for Redis pub/sub and never fails because of it. A task
publishes the queue; when nobody is subscribed, batches are skipped without being encoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter
from redis.asyncio import Redis

from core.contract import ViewContract
from core.events import UpdateEvent
from core.live.messages import encode_batch
from core.settings import Settings

log = logging.getLogger(__name__)

QUEUE_BATCHES = 256  # batches waiting to be published; beyond that they are dropped (counted)
PUBLISH_TIMEOUT_S = 1.0
# After a publish reached no subscriber, batches are skipped this long before trying again:
# a reader that subscribes may miss this much (readers re-read the store when they start).
NO_LISTENER_RECHECK_S = 0.5

_Item = tuple[ViewContract, Sequence[UpdateEvent], datetime]


class UpdateNotifier(Protocol):
    """Announces a view's batch once it is online; must return at once and never raise."""

    def notify(
        self, view: ViewContract, events: Sequence[UpdateEvent], written_at: datetime
    ) -> None: ...


class RedisUpdateNotifier:
    """Publishes one message per batch per view on the channel; failures are counted, not raised."""

    def __init__(
        self,
        redis: Redis,
        channel: str,
        address: str,
        registry: CollectorRegistry,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channel = channel
        self.address = address
        self._redis = redis
        self._clock = clock
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(QUEUE_BATCHES)
        self._task: asyncio.Task[None] | None = None
        self._quiet_until = 0.0
        self._outage_started: float | None = None
        self._lost_in_outage = 0
        self.outcomes = Counter(
            "credit_stream_online_notifications",
            "Batches announced on the live channel, by outcome (published, no_subscriber, "
            "failed: Redis error, dropped: queue full)",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("published", "no_subscriber", "failed", "dropped"):
            self.outcomes.labels(outcome=outcome)

    @classmethod
    def open(
        cls, settings: Settings, channel: str, registry: CollectorRegistry
    ) -> RedisUpdateNotifier:
        redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=PUBLISH_TIMEOUT_S,
            socket_connect_timeout=PUBLISH_TIMEOUT_S,
        )
        return cls(redis, channel, settings.redis_address, registry)

    def start(self) -> None:
        """Start publishing (call from the running event loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="notifier")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()

    def notify(
        self, view: ViewContract, events: Sequence[UpdateEvent], written_at: datetime
    ) -> None:
        if not events:
            return
        if self._clock() < self._quiet_until:
            self.outcomes.labels(outcome="no_subscriber").inc()
            return
        try:
            self._queue.put_nowait((view, events, written_at))
        except asyncio.QueueFull:
            self.outcomes.labels(outcome="dropped").inc()
            self._lost_in_outage += 1

    async def _run(self) -> None:
        while True:
            view, events, written_at = await self._queue.get()
            if self._clock() < self._quiet_until:
                self.outcomes.labels(outcome="no_subscriber").inc()
                continue
            try:
                receivers = await asyncio.wait_for(
                    self._redis.publish(self.channel, encode_batch(view, events, written_at)),
                    PUBLISH_TIMEOUT_S,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - best effort: nothing may stop the batches
                self._failed(exc)
                continue
            self._recovered()
            if receivers:
                self.outcomes.labels(outcome="published").inc()
            else:
                self.outcomes.labels(outcome="no_subscriber").inc()
                self._quiet_until = self._clock() + NO_LISTENER_RECHECK_S

    def _failed(self, exc: BaseException) -> None:
        self.outcomes.labels(outcome="failed").inc()
        self._lost_in_outage += 1
        if self._outage_started is None:
            self._outage_started = self._clock()
            # One line per outage; the batches themselves are written and acked as usual.
            log.warning(
                "live announcements failing at %s (%s); batches go on unannounced until "
                "Redis answers",
                self.address,
                type(exc).__name__,
            )

    def _recovered(self) -> None:
        if self._outage_started is None:
            self._lost_in_outage = 0
            return
        log.warning(
            "live announcements published again at %s after %.1f s (%d batches unannounced)",
            self.address,
            self._clock() - self._outage_started,
            self._lost_in_outage,
        )
        self._outage_started = None
        self._lost_in_outage = 0
