"""`credit-pipeline watch [--dob-ssn X] [--zipcode Z]`: online feature values as they change."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from core.cli_options import option_flag
from core.contract import ENTITY_KEYS
from core.errors import ConfigurationError
from core.settings import Settings

# One flag per entity of the contract.
ENTITY_FLAGS = {name: option_flag(name) for name in ENTITY_KEYS}


def add_watch_commands(subparsers: Any) -> None:
    """Register `watch`."""
    watch = subparsers.add_parser(
        "watch",
        help="follow online feature values live: one entity's changes, or every update",
        description="With an entity: print its current online values (through Feast), then "
        "each change as the stream processor writes it (feature, old -> new, event time, lag). "
        "Without: a live table of recent updates (keys masked), throughput and freshness; "
        "one line per update when stdout is not a terminal.",
    )
    for entity, flag in ENTITY_FLAGS.items():
        watch.add_argument(
            flag,
            dest=f"watch__{entity}",
            action="append",
            metavar=entity.upper(),
            help=f"watch this {entity} (repeatable)",
        )
    watch.set_defaults(func=run_watch)


def run_watch(settings: Settings, args: argparse.Namespace) -> int:
    """Handler of `watch`: runs until Ctrl-C."""
    from core.live.entities import parse_key
    from live.watch import follow_entities, follow_stream

    keys = []
    for entity in ENTITY_FLAGS:
        for text in getattr(args, f"watch__{entity}") or ():
            try:
                keys.append((entity, parse_key(entity, text)))
            except ValueError as exc:  # the message masks a sensitive key
                raise ConfigurationError(str(exc)) from None
    try:
        if keys:
            asyncio.run(follow_entities(settings, keys, _reader(settings), sys.stdout))
        else:
            asyncio.run(follow_stream(settings, sys.stdout, tty=sys.stdout.isatty()))
    except KeyboardInterrupt:
        return 0
    return 0


def _reader(settings: Settings) -> Any:
    """Reads one entity through Feast; the store is opened once, on first use."""
    from core.feast_store import open_store
    from core.live.entities import read_entity
    from core.live.errors import LiveUnavailableError

    store: list[Any] = []

    def read(entity: str, key: Any) -> Any:
        try:
            if not store:
                store.append(open_store(settings))
            return read_entity(store[0], entity, key)
        except Exception as exc:  # Feast, Redis and the SQL registry each raise their own types
            raise LiveUnavailableError(
                f"cannot read the online values of {entity} ({type(exc).__name__}); is the "
                "stack up and `credit-pipeline init` done?"
            ) from None

    return read
