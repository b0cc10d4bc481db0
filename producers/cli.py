"""`credit-pipeline produce ...`: replay history, stream random updates, update one entity."""

from __future__ import annotations

import argparse
import json
import logging
import math
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from core.settings import Settings
from producers.config import DELIVERY_TIMEOUT_S
from producers.errors import ProducerError

if TYPE_CHECKING:
    # Imported lazily below: the contract imports Feast (~5 s), which `credit-pipeline
    # --help` and the commands of other components must not pay.
    from core.contract import ViewContract
    from core.events import UpdateEvent
    from core.history import HistorySource
    from producers.entities import EntityPool
    from producers.producer import DeliveryReport
    from producers.pump import Progress, PumpResult

log = logging.getLogger(__name__)

_KIND_TYPES: dict[str, Callable[[str], Any]] = {"int64": int, "float64": float, "string": str}
_KIND_METAVARS = {"int64": "N", "float64": "X", "string": "TEXT"}
_TICKS_PER_PLAIN_LINE = 10  # without a terminal, one progress line every ~5 s
_FLUSH_TIMEOUT_S = DELIVERY_TIMEOUT_S + 5  # long enough for every event to get its outcome


class _LazyOptionsParser(argparse.ArgumentParser):
    """A parser that adds its options on first use, so they can come from the contract."""

    def __init__(
        self,
        *args: Any,
        add_options: Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._add_options = add_options

    def _ensure_options(self) -> None:
        if self._add_options is not None:
            add, self._add_options = self._add_options, None
            add(self)

    def parse_known_args(  # type: ignore[override]
        self, args: Any = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._ensure_options()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._ensure_options()
        return super().format_help()


def add_produce_commands(subparsers: Any, history: HistorySource) -> None:
    """Register `produce` with its `replay`, `stream` and `update` subcommands; `history` is
    where `replay` (and a stream without an initialised store) takes its history from."""
    produce = subparsers.add_parser(
        "produce", help="publish update events to Kafka (creates the topics if missing)"
    )
    kinds = produce.add_subparsers(
        dest="produce_command", required=True, metavar="KIND", parser_class=_LazyOptionsParser
    )

    replay = kinds.add_parser(
        "replay", help="replay the history (synthetic or the tutorial's) as events, oldest first"
    )
    history.add_arguments(replay)  # the same source options, and defaults, as `init`
    replay.add_argument("--limit", type=_positive_int, metavar="N", help="only the oldest N events")
    replay.set_defaults(func=_cmd_replay)

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
    stream.set_defaults(func=_cmd_stream)

    update = kinds.add_parser(
        "update",
        help="one update of one entity; features not given keep their current online value",
        add_options=_add_update_options,
    )
    update.set_defaults(func=_cmd_update)
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
    from producers.update import feature_options, option_flag

    entity = parser.add_mutually_exclusive_group(required=True)
    for view in VIEWS:
        entity.add_argument(
            option_flag(view.entity.name),
            dest=f"entity__{view.name}",
            type=_entity_type(view),
            metavar=view.entity.name.upper(),
            help=f"update {view.name} of this {view.entity.name}",
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


# -- commands -------------------------------------------------------------------------------


def _cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from core.topics import ensure_topics
    from producers.replay import history_events

    ensure_topics(settings)
    history = args.history_source.load(args)
    return _send(settings, "replay", history_events(history, limit=args.limit))


def _cmd_stream(settings: Settings, args: argparse.Namespace) -> int:
    from itertools import islice

    from core.topics import ensure_topics
    from producers.random_updates import RandomUpdates

    ensure_topics(settings)
    pool = _entity_pool(settings, args.history_source)
    sys.stderr.write(f"updating {pool.describe()} at {args.rate:g} events/s (Ctrl-C stops)\n")
    updates: Iterable[UpdateEvent] = RandomUpdates(pool, seed=args.seed)
    if args.count is not None:
        updates = islice(updates, args.count)
    return _send(settings, "stream", updates, rate=args.rate)


def _cmd_update(settings: Settings, args: argparse.Namespace) -> int:
    from core.topics import ensure_topics
    from producers.producer import EventProducer
    from producers.update import build_update, feature_options, option_flag, read_online_row

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
    ensure_topics(settings)
    # Feast costs seconds to load; a complete update does not need the online value.
    complete = len(given) == len(view.features)
    online = None if complete else read_online_row(settings, view, key)
    event = build_update(view, key, given, online)
    producer = EventProducer(settings)
    try:
        producer.send(event)
        report = producer.flush(_FLUSH_TIMEOUT_S)
    finally:
        producer.close()
    doc = event.to_json()
    if view.entity_key.sensitive:
        doc[view.entity.name] = view.entity_key.mask(event.entity_value)
    sys.stdout.write(json.dumps(doc) + "\n")
    if not report.ok:
        _write_failures(report)
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
    from core.offline_store import OfflineStoreError
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


# -- sending and reporting ------------------------------------------------------------------


def _send(
    settings: Settings, what: str, events: Iterable[UpdateEvent], *, rate: float | None = None
) -> int:
    from producers.producer import EventProducer
    from producers.pump import pump

    producer = EventProducer(settings)
    line = _ProgressLine()
    try:
        with _stop_on_sigint() as stop:
            result = pump(
                producer,
                events,
                rate=rate,
                stop=stop,
                on_progress=line.show,
                flush_timeout=_FLUSH_TIMEOUT_S,
            )
    finally:
        line.end()
        producer.close()
    _write_result(what, result)
    return 0 if result.report.ok else 1


def _write_result(what: str, result: PumpResult) -> None:
    stopped = " (stopped by Ctrl-C)" if result.stopped else ""
    sys.stdout.write(
        f"{what}: {result.report.summary()} in {result.elapsed:.1f} s "
        f"({result.rate:,.0f} events/s){stopped}\n"
    )
    if not result.report.ok:
        _write_failures(result.report)


def _write_failures(report: DeliveryReport) -> None:
    sys.stderr.write(
        f"error: {report.sent - report.delivered:,} of {report.sent:,} events were not delivered\n"
    )
    for failure in report.errors:
        sys.stderr.write(f"  {failure}\n")
    if report.failed > len(report.errors):
        sys.stderr.write(f"  ... and {report.failed - len(report.errors):,} more failures\n")


class _ProgressLine:
    """The live `sent / rate / errors` line on stderr, rewritten in place on a terminal."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._ticks = 0
        self._shown = False

    def show(self, progress: Progress) -> None:
        self._ticks += 1
        text = (
            f"sent {progress.sent:,}  {progress.rate:,.0f} events/s  "
            f"delivery errors {progress.failed:,}  {progress.elapsed:.1f} s"
        )
        if self._tty:
            sys.stderr.write(f"\r{text}\x1b[K")
            self._shown = True
        elif self._ticks % _TICKS_PER_PLAIN_LINE == 0:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def end(self) -> None:
        if self._shown:
            sys.stderr.write("\n")


@contextmanager
def _stop_on_sigint() -> Iterator[threading.Event]:
    """The first Ctrl-C asks the pump to stop and flush; a second one interrupts for good."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signal handlers can only be set from the main thread
        return

    def on_sigint(signum: int, frame: object) -> None:
        stop.set()
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
