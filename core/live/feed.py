"""`LiveFeed`: the processor's announcements as decoded batches, resubscribing after outages."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.live.errors import LiveMessageError, LiveUnavailableError
from core.live.messages import OnlineUpdate, decode_batch
from core.settings import Settings

log = logging.getLogger(__name__)

RECONNECT_DELAYS_S = (0.1, 0.25, 0.5, 1.0, 2.0)
_POLL_S = 1.0  # longest a read waits, so health checks run on an idle channel


class LiveFeed:
    """Subscribes to the announcement channel; yields each batch of updates as it arrives.

    Messages published while the subscription is down are lost (pub/sub keeps nothing), so
    `on_subscribed` is called after every (re)subscription: a reader re-reads the values it
    shows from the online store then.
    """

    def __init__(
        self,
        settings: Settings,
        on_subscribed: Callable[[bool], None] | None = None,
    ) -> None:
        channel = settings.live_channel
        if channel is None:
            raise LiveUnavailableError(
                "CREDIT_ONLINE_UPDATES_CHANNEL is empty: the processor announces nothing to "
                "follow; set it (default credit-pipeline:online-updates)"
            )
        self.channel = channel
        self.address = settings.redis_address
        self._url = settings.redis_url
        self._on_subscribed = on_subscribed or (lambda resubscribed: None)
        self.subscribed = asyncio.Event()
        self.bad_messages = 0

    async def batches(self) -> AsyncIterator[list[OnlineUpdate]]:
        """Batches until cancelled; waits and resubscribes while Redis is unreachable."""
        attempt = 0
        outage_started: float | None = None
        ever_subscribed = False
        while True:
            client = Redis.from_url(self._url, socket_connect_timeout=2, health_check_interval=5)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                if outage_started is not None:
                    log.warning(
                        "live feed: subscribed again at %s after %.1f s",
                        self.address,
                        time.monotonic() - outage_started,
                    )
                outage_started, attempt = None, 0
                self.subscribed.set()
                self._on_subscribed(ever_subscribed)
                ever_subscribed = True
                while True:
                    message = await pubsub.get_message(timeout=_POLL_S)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        yield decode_batch(message["data"])
                    except LiveMessageError as exc:
                        self.bad_messages += 1
                        log.debug("live feed: skipped a message: %s", exc)
            except (RedisError, OSError) as exc:
                self.subscribed.clear()
                if outage_started is None:
                    outage_started = time.monotonic()
                    log.warning(
                        "live feed: Redis unreachable at %s (%s); retrying",
                        self.address,
                        type(exc).__name__,
                    )
                await asyncio.sleep(RECONNECT_DELAYS_S[min(attempt, len(RECONNECT_DELAYS_S) - 1)])
                attempt += 1
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                await client.aclose()
