"""`credit-pipeline produce ...`: replay history, stream random updates, update one entity.

This module registers the commands and their options; `commands` runs them and `sending`
sends and reports.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.cli_options import LazyOptionsParser, option_flag
from producers.commands import run_replay, run_stream, run_update

if TYPE_CHECKING:
    # Imported lazily below: `core.history` imports pandas, which `credit-pipeline --help` and
    # the commands of other components must not pay.
    from core.contract import ViewContract
    from core.history import HistorySource

_KIND_TYPES: dict[str, Callable[[str], Any]] = {"int64": int, "float64": float, "string": str}
_KIND_METAVARS = {"int64": "N", "float64": "X", "string": "TEXT"}


def add_produce_commands(subparsers: Any, history: HistorySource) -> None:
    """Register `produce` with its `replay`, `stream` and `update` subcommands; `history` is
    where `replay` (and a stream without an initialised store) takes its history from."""
    produce = subparsers.add_parser(
        "produce", help="publish update events to Kafka (creates the topics if missing)"
    )
    kinds = produce.add_subparsers(
        dest="produce_command", required=True, metavar="KIND", parser_class=LazyOptionsParser
    )

    replay = kinds.add_parser(
        "replay", help="replay the history (synthetic or the tutorial's) as events, oldest first"
    )
    history.add_arguments(replay)  # the same source options, and defaults, as `init`
    replay.add_argument("--limit", type=_positive_int, metavar="N", help="only the oldest N events")
    replay.set_defaults(func=run_replay)

    stream = kinds.add_parser(
        "stream", help="random updates of existing entities at a steady rate, until Ctrl-C"
    )
    stream.add_argument(
        "--rate", type=_positive_float, required=True, metavar="R", help="events per second"
    )
    stream.add_argument(
        "--count", type=_positive_int, metavar="N", help="stop after N events (default: Ctrl-C)"
    )
    stream.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the random choices (default: a different stream each run)",
    )
    stream.set_defaults(func=run_stream)

    update = kinds.add_parser(
        "update",
        help="one update of one entity; features not given keep their current online value",
        add_options=_add_update_options,
    )
    update.set_defaults(func=run_update)
    for parser in (replay, stream, update):
        parser.set_defaults(history_source=history)


# -- argument types -------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _entity_type(view: ViewContract) -> Callable[[str], Any]:
    """Parses and validates an entity key; errors never show the value (it may be sensitive)."""

    def parse(text: str) -> Any:
        # ArgumentTypeError: argparse prints only its message, not the offending value.
        raw: Any = text
        if view.entity.kind == "int64":
            try:
                raw = int(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{view.entity.name} must be an integer") from None
        try:
            return view.entity_key.parse(raw)
        except ValueError as exc:  # its message masks a sensitive key
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def _add_update_options(parser: argparse.ArgumentParser) -> None:
    """Entity and feature options generated from the contract, never typed here."""
    from core.contract import VIEWS
    from producers.update import feature_options

    entity = parser.add_mutually_exclusive_group(required=True)
    for view in VIEWS:
        entity.add_argument(
            option_flag(view.entity.name),
            dest=f"entity__{view.name}",
            type=_entity_type(view),
            metavar=view.entity.name.upper(),
            help=f"update {view.name} of this {view.entity.name}",
        )
    parser.add_argument(
        "--new",
        action="store_true",
        help="the entity has no online row yet: numeric features not given start at their "
        "lowest allowed value (0), string features must all be given; the online row is not read",
    )
    groups = {
        view.name: parser.add_argument_group(
            f"{view.name} features (with {option_flag(view.entity.name)})"
        )
        for view in VIEWS
    }
    for option in feature_options():
        kind = option.column.kind
        groups[option.view.name].add_argument(
            option.flag,
            dest=option.dest,
            type=_KIND_TYPES[kind],
            metavar=_KIND_METAVARS[kind],
            help=f"new {option.column.name} ({kind})",
        )
