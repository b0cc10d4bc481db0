"""The processor's stages one by one, in this process, without Kafka or contention.

CPU microseconds per event of each step a batch goes through, on the same seeded events as the
ingestion runs (batches of `batch_rows`, grouped per view as the processor does). Beside the
processor's CPU per event in the runs, they say which stage its time goes to.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from itertools import islice

from bench.events import STREAM_SEED
from bench.stack import BenchStack
from core.events import UpdateEvent, parse_event
from core.offline_store import PostgresOfflineWriter
from producers.entities import EntityPool
from producers.random_updates import RandomUpdates
from stream_processor.batching import newest_per_entity, offline_rows
from stream_processor.online_rows import online_rows
from stream_processor.redis_writer import RedisOnlineWriter
from stream_processor.writers import FeastOnlineWriter, OnlineWriter

_REPEATS = 3  # the pure stages: the best of three (CPU cost, not noise)


def _groups(batch: Iterable[UpdateEvent]) -> list[list[UpdateEvent]]:
    by_view: dict[str, list[UpdateEvent]] = {}
    for event in batch:
        by_view.setdefault(event.view.name, []).append(event)
    return list(by_view.values())


def _fresh_events(pool: EntityPool, count: int) -> list[UpdateEvent]:
    """Newly stamped events: Feast skips an online row that is not newer than the stored one."""
    return list(islice(RandomUpdates(pool, seed=STREAM_SEED), count))


def _fresh_batches(pool: EntityPool, count: int, rows: int) -> list[list[list[UpdateEvent]]]:
    events = _fresh_events(pool, count)
    return [_groups(events[i : i + rows]) for i in range(0, count, rows)]


def _best_us(work: Callable[[], object], count: int, repeats: int = _REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return 1e6 * best / count


def _once_us(work: Callable[[], object], count: int) -> float:
    """CPU of this process for one pass (a store write: repeating it would write nothing)."""
    started = time.process_time()
    work()
    return 1e6 * (time.process_time() - started) / count


def _wall_us(work: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    work()
    return 1e6 * (time.perf_counter() - started) / count


def stage_costs(stack: BenchStack, pool: EntityPool, count: int, rows: int) -> dict[str, float]:
    """Per-event microseconds of each stage (CPU of this process; wall where a server works)."""
    settings = stack.settings
    events = _fresh_events(pool, count)
    flat = [events[i : i + rows] for i in range(0, count, rows)]
    batches = [_groups(batch) for batch in flat]
    raw = [(e.view, e.encode()) for e in events]
    now = datetime.now(UTC)
    costs = {
        "parse + validate (json, contract)": _best_us(
            lambda: [parse_event(view, value, now=now) for view, value in raw], count
        ),
        "group per view + newest per entity": _best_us(
            lambda: [newest_per_entity(g) for batch in flat for g in _groups(batch)], count
        ),
        "online rows (Feast protobufs, the reference writer)": _best_us(
            lambda: [online_rows(g[0].view, g) for b in batches for g in b], count
        ),
    }
    direct = RedisOnlineWriter.open(settings)
    costs["online script arguments (direct writer: keys, values, times)"] = _best_us(
        lambda: [direct.calls(g[0].view, g) for b in batches for g in b], count
    )
    created = datetime.now(UTC)

    def csv_payloads() -> list[io.StringIO]:
        out = []
        for batch in batches:
            for group in batch:
                buf = io.StringIO()
                writer = csv.writer(buf)
                for row in offline_rows(group[0].view, group, created):
                    writer.writerow(["" if v is None else v for v in row])
                out.append(buf)
        return out

    costs["offline rows + CSV (Python side of COPY)"] = _best_us(csv_payloads, count)
    # One loop for every call: an async Redis client stays bound to the loop it met first.
    loop = asyncio.new_event_loop()

    def write_online(writer: OnlineWriter, batches: list[list[list[UpdateEvent]]]) -> None:
        async def write_all() -> None:
            for batch in batches:
                for group in batch:
                    await writer.write(group[0].view, group)

        loop.run_until_complete(write_all())

    for label, online in (("direct", direct), ("Feast", FeastOnlineWriter.open(settings))):
        # First calls open connections and fill caches: not timed.
        write_online(online, _fresh_batches(pool, min(rows, count), rows)[:1])
        fresh = _fresh_batches(pool, count, rows)
        costs[f"{label} online write (encode + Redis call), CPU"] = _once_us(
            partial(write_online, online, fresh), count
        )
        fresh = _fresh_batches(pool, count, rows)
        costs[f"{label} online write, wall (Redis included)"] = _wall_us(
            partial(write_online, online, fresh), count
        )
    loop.close()
    with PostgresOfflineWriter(settings) as writer:

        def write_offline() -> None:
            for batch in batches:
                for group in batch:
                    writer.append_rows(group[0].view, offline_rows(group[0].view, group, created))

        for group in _fresh_batches(pool, min(rows, count), rows)[0]:
            writer.append_rows(group[0].view, offline_rows(group[0].view, group, created))
        batches = _fresh_batches(pool, count, rows)
        costs["offline append (CSV + COPY + INSERT ON CONFLICT), CPU"] = _once_us(
            write_offline, count
        )
        batches = _fresh_batches(pool, count, rows)
        costs["offline append, wall (Postgres included)"] = _wall_us(write_offline, count)
    return {name: round(us, 1) for name, us in costs.items()}
