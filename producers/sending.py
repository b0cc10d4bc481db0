"""Sending events for `produce replay|stream` and reporting it: the live progress line, the
result, undelivered events, and Ctrl-C (the first stops and flushes, a second interrupts)."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from core.settings import Settings
from producers.config import DELIVERY_TIMEOUT_S

if TYPE_CHECKING:
    from core.events import UpdateEvent
    from producers.producer import DeliveryReport
    from producers.pump import Progress, PumpResult

FLUSH_TIMEOUT_S = DELIVERY_TIMEOUT_S + 5  # long enough for every event to get its outcome
_TICKS_PER_PLAIN_LINE = 10  # without a terminal, one progress line every ~5 s


def send(
    settings: Settings,
    what: str,
    events: Iterable[UpdateEvent],
    *,
    rate: float | None = None,
    announce: str | None = None,
) -> int:
    """Send `events` (at `rate` per second, or as fast as they go), showing progress until
    they are all delivered or Ctrl-C; print the result. 0 if every event was delivered.
    `announce` is printed once Ctrl-C stops the sending (so it may say so)."""
    from producers.producer import EventProducer
    from producers.pump import pump

    producer = EventProducer(settings)
    line = ProgressLine()
    try:
        with stop_on_sigint() as stop:
            if announce is not None:
                sys.stderr.write(announce + "\n")
                sys.stderr.flush()
            result = pump(
                producer,
                events,
                rate=rate,
                stop=stop,
                on_progress=line.show,
                flush_timeout=FLUSH_TIMEOUT_S,
            )
    finally:
        line.end()
        producer.close()
    write_result(what, result)
    return 0 if result.report.ok else 1


def write_result(what: str, result: PumpResult) -> None:
    stopped = " (stopped by Ctrl-C)" if result.stopped else ""
    sys.stdout.write(
        f"{what}: {result.report.summary()} in {result.elapsed:.1f} s "
        f"({result.rate:,.0f} events/s){stopped}\n"
    )
    if not result.report.ok:
        write_failures(result.report)


def write_failures(report: DeliveryReport) -> None:
    sys.stderr.write(
        f"error: {report.sent - report.delivered:,} of {report.sent:,} events were not delivered\n"
    )
    for failure in report.errors:
        sys.stderr.write(f"  {failure}\n")
    if report.failed > len(report.errors):
        sys.stderr.write(f"  ... and {report.failed - len(report.errors):,} more failures\n")


class ProgressLine:
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
def stop_on_sigint() -> Iterator[threading.Event]:
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
