"""The loops behind `credit-pipeline watch`: changes of chosen entities, or every update."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from core.live.entities import WatchedEntity
from core.live.feed import LiveFeed
from core.live.messages import OnlineUpdate
from core.live.stats import FeedStats, RecentUpdates
from core.settings import Settings
from live.render import change_lines, entity_block, event_line, table

WatchKey = tuple[str, Any]
EntityReader = Callable[[str, Any], WatchedEntity]  # blocking: run in a thread
REFRESH_S = 1.0
TABLE_ROWS = 20
RATE_LINE_EVERY_S = 10.0


def _write(out: TextIO, lines: Sequence[str]) -> None:
    if lines:
        out.write("\n".join(lines) + "\n")
        out.flush()


async def _pump(feed: LiveFeed, queue: asyncio.Queue[list[OnlineUpdate]]) -> None:
    async for batch in feed.batches():
        await queue.put(batch)


async def follow_entities(
    settings: Settings, keys: Sequence[WatchKey], read: EntityReader, out: TextIO
) -> None:
    """Print the entities' values, then every change as it lands online, until cancelled."""
    resubscribed = asyncio.Event()
    feed = LiveFeed(settings, on_subscribed=lambda again: resubscribed.set() if again else None)
    queue: asyncio.Queue[list[OnlineUpdate]] = asyncio.Queue()
    pump = asyncio.create_task(_pump(feed, queue))
    try:
        # Subscribed before reading: an update landing in between is then either in the
        # values read or queued (and one already in the values read is skipped as not newer).
        await feed.subscribed.wait()
        watched = {key: await asyncio.to_thread(read, *key) for key in keys}
        for entity in watched.values():
            _write(out, entity_block(entity))
        _write(out, [f"watching for changes on {feed.channel} (Ctrl-C stops)"])
        while True:
            batch = await queue.get()
            if resubscribed.is_set():
                resubscribed.clear()
                await _resync(watched, read, out)
            for update in batch:
                target = watched.get((update.entity, update.key))
                if target is not None:
                    _write(out, change_lines(target, target.apply(update) or []))
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump


async def _resync(watched: dict[WatchKey, WatchedEntity], read: EntityReader, out: TextIO) -> None:
    """After a lost subscription: re-read the values, so missed changes still show."""
    _write(out, ["live feed resubscribed: re-reading the online values"])
    for key, entity in watched.items():
        fresh = await asyncio.to_thread(read, *key)
        for view, state in fresh.views.items():
            if state.event_timestamp is None:
                continue
            update = OnlineUpdate(
                view, entity.entity, entity.key, "", state.event_timestamp,
                state.event_timestamp, state.values,
            )  # fmt: skip
            _write(out, change_lines(entity, entity.apply(update) or []))


async def follow_stream(settings: Settings, out: TextIO, *, tty: bool) -> None:
    """Every update: a refreshing table on a terminal, otherwise one line per update."""
    feed = LiveFeed(settings)
    stats, recent = FeedStats(), RecentUpdates(TABLE_ROWS)
    queue: asyncio.Queue[list[OnlineUpdate]] = asyncio.Queue()
    pump = asyncio.create_task(_pump(feed, queue))
    next_draw = time.monotonic()
    next_rate = next_draw + RATE_LINE_EVERY_S
    try:
        while True:
            timeout = max(next_draw - time.monotonic(), 0) if tty else RATE_LINE_EVERY_S
            with contextlib.suppress(TimeoutError):
                batch = await asyncio.wait_for(queue.get(), timeout)
                stats.observe(batch)
                recent.add(batch)
                if not tty:
                    _write(out, [event_line(u) for u in batch])
            now = time.monotonic()
            if tty and now >= next_draw:
                width = shutil.get_terminal_size().columns
                rows = recent.newest(TABLE_ROWS)
                screen = table(stats.summary(), rows, feed.channel, width, feed.subscribed.is_set())
                out.write(screen)
                out.flush()
                next_draw = now + REFRESH_S
            elif not tty and now >= next_rate:
                s = stats.summary()
                p50 = "-" if s.lag_p50_ms is None else f"{s.lag_p50_ms:.0f}ms"
                _write(out, [f"# {s.rate:,.1f} events/s, lag p50 {p50}, total {s.total:,}"])
                next_rate = now + RATE_LINE_EVERY_S
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
