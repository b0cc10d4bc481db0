"""The benchmark's event streams: the same seeded updates in every run, and what went out."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from core.contract import VIEWS, ViewContract
from core.events import UpdateEvent
from producers.entities import EntityPool
from producers.random_updates import RandomUpdates

# One seed for the measured stream of every run: each run sends the same updates of the same
# entities in the same order (ids and timestamps are new per run, so every write is real).
STREAM_SEED = 6
WARMUP_SEED = 7

EntityRef = tuple[str, Any]  # (view name, entity key)


@dataclass
class StreamLog:
    """What a stream handed out: events per view, and the events of watched entities."""

    watched: frozenset[EntityRef] | None = None  # None: every entity
    keep_all: bool = False  # every watched event (freshness), or only the newest (ingestion)
    per_view: Counter[str] = field(default_factory=Counter)
    newest: dict[EntityRef, UpdateEvent] = field(default_factory=dict)
    watched_events: list[UpdateEvent] = field(default_factory=list)
    id_prefix: str | None = None

    @property
    def total(self) -> int:
        return sum(self.per_view.values())


def id_prefix(event_id: str) -> str:
    """The run part of a RandomUpdates id (`<run uuid>-<seq>`), which every id of a run shares."""
    return event_id.rsplit("-", 1)[0] + "-"


def logged(events: Iterable[UpdateEvent], log: StreamLog) -> Iterator[UpdateEvent]:
    """Pass `events` through, noting them in `log` (cheap: one set lookup per event)."""
    watched, per_view = log.watched, log.per_view
    for event in events:
        if log.id_prefix is None:
            log.id_prefix = id_prefix(event.event_id)
        name = event.view.name
        per_view[name] += 1
        ref = (name, event.entity_value)
        if watched is None or ref in watched:
            log.newest[ref] = event
            if log.keep_all:
                log.watched_events.append(event)
        yield event


def measured_stream(pool: EntityPool, count: int, log: StreamLog) -> Iterator[UpdateEvent]:
    """`count` updates of the seeded measured stream, stamped as they are produced."""
    return logged(islice(RandomUpdates(pool, seed=STREAM_SEED), count), log)


def warmup_stream(pool: EntityPool, count: int) -> Iterator[UpdateEvent]:
    """Updates that open every client and cache of a consumer before the clock starts."""
    return islice(RandomUpdates(pool, seed=WARMUP_SEED), count)


def sample_newest(
    newest: dict[EntityRef, UpdateEvent], per_view: int, seed: int = 11
) -> dict[EntityRef, UpdateEvent]:
    """A seeded choice of `per_view` updated entities of each view, with their newest event."""
    rng = random.Random(seed)
    chosen: dict[EntityRef, UpdateEvent] = {}
    for view in VIEWS:
        refs = sorted((r for r in newest if r[0] == view.name), key=str)
        for ref in rng.sample(refs, min(per_view, len(refs))):
            chosen[ref] = newest[ref]
    return chosen


def sample_entities(pool: EntityPool, per_view: int, seed: int = 11) -> list[EntityRef]:
    """A fixed, seeded choice of `per_view` entities of each view."""
    rng = random.Random(seed)
    chosen: list[EntityRef] = []
    for view in VIEWS:
        keys = [row[view.entity.name] for row in pool.of(view)]
        chosen += [(view.name, key) for key in rng.sample(keys, min(per_view, len(keys)))]
    return chosen


def subpool(pool: EntityPool, sizes: dict[str, int]) -> EntityPool:
    """The first `sizes[view]` entities of each view (a small pool: every entity updates often)."""
    return EntityPool({v.name: list(pool.of(v)[: sizes[v.name]]) for v in VIEWS})


def views_of(refs: Sequence[EntityRef]) -> dict[str, ViewContract]:
    by_name = {v.name: v for v in VIEWS}
    return {name: by_name[name] for name, _ in refs}
