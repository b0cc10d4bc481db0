"""What `produce replay|stream|update` do once their options are parsed."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from core.settings import Settings
from producers.errors import ProducerError
from producers.sending import FLUSH_TIMEOUT_S, send, write_failures

if TYPE_CHECKING:
    # Imported where used: `core.history` imports pandas, which `credit-pipeline --help` and
    # `produce update` must not pay.
    from core.contract import ViewContract
    from core.events import UpdateEvent
    from core.history import HistorySource
    from producers.entities import EntityPool

log = logging.getLogger(__name__)


def run_replay(settings: Settings, args: argparse.Namespace) -> int:
    from core.topics import ensure_topics
    from producers.replay import history_events

    ensure_topics(settings)
    history = args.history_source.load(args)
    return send(settings, "replay", history_events(history, limit=args.limit))


def run_stream(settings: Settings, args: argparse.Namespace) -> int:
    from itertools import islice

    from core.topics import ensure_topics
    from producers.random_updates import RandomUpdates

    ensure_topics(settings)
    pool = _entity_pool(settings, args.history_source)
    updates: Iterable[UpdateEvent] = RandomUpdates(pool, seed=args.seed)
    if args.count is not None:
        updates = islice(updates, args.count)
    # Said once Ctrl-C is handled: a Ctrl-C right after it stops and flushes, not interrupts.
    announce = f"updating {pool.describe()} at {args.rate:g} events/s (Ctrl-C stops)"
    return send(settings, "stream", updates, rate=args.rate, announce=announce)


def run_update(settings: Settings, args: argparse.Namespace) -> int:
    from core.cli_options import option_flag
    from core.topics import ensure_topics
    from producers.config import ONE_EVENT
    from producers.producer import EventProducer
    from producers.update import (
        build_update,
        feature_options,
        read_online_row,
        require_features,
        starting_row,
    )

    view, key = _selected_entity(args)
    options = feature_options()
    foreign = [o.flag for o in options if o.view is not view and getattr(args, o.dest) is not None]
    if foreign:
        raise ProducerError(
            f"{', '.join(foreign)}: not for {option_flag(view.entity.name)}, which updates "
            f"{view.name}"
        )
    given = {
        o.column.name: getattr(args, o.dest)
        for o in options
        if o.view is view and getattr(args, o.dest) is not None
    }
    require_features(view, given)  # before Feast and Kafka: nothing to send
    ensure_topics(settings)
    # Feast costs seconds to load; a complete update does not need the online value, nor does
    # a new entity (--new), which starts from documented defaults instead.
    complete = len(given) == len(view.features)
    if args.new:
        online: dict[str, Any] | None = starting_row(view)
    else:
        online = None if complete else read_online_row(settings, view, key)
    event = build_update(view, key, given, online)
    producer = EventProducer(settings, config=ONE_EVENT)
    try:
        producer.send(event)
        report = producer.flush(FLUSH_TIMEOUT_S)
    finally:
        producer.close()
    doc = event.to_json()
    if view.entity_key.sensitive:
        doc[view.entity.name] = view.entity_key.mask(event.entity_value)
    sys.stdout.write(json.dumps(doc) + "\n")
    if not report.ok:
        write_failures(report)
        return 1
    kept = [c.name for c in view.features if c.name not in given]
    if kept:
        sys.stderr.write(f"kept the online value of {', '.join(kept)}\n")
    return 0


def _selected_entity(args: argparse.Namespace) -> tuple[ViewContract, Any]:
    from core.contract import VIEWS

    for view in VIEWS:
        key = getattr(args, f"entity__{view.name}")
        if key is not None:
            return view, key
    raise ProducerError("give one entity option")  # the required group makes this unreachable


def _entity_pool(settings: Settings, history: HistorySource) -> EntityPool:
    # Entities come from the offline store: they exist whichever history `init` loaded
    # (synthetic of any size and seed, or the tutorial's), and updates start from their
    # latest values, so each one is a plausible change rather than a jump. Without an
    # initialised store, the default synthetic history (what a default `init` loads) stands in.
    from core.errors import OfflineStoreError
    from producers.entities import EntityPool, pool_from_history, pool_from_offline_store

    try:
        pool = pool_from_offline_store(settings)
    except OfflineStoreError as exc:
        log.warning("%s", exc)
        pool = EntityPool({})
    if pool.empty:
        log.warning(
            "no entities in the offline store: updating those of the default synthetic history "
            "(run `credit-pipeline init` so that they exist in the stores too)"
        )
        pool = pool_from_history(history.default())
    return pool
