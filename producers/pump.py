"""Send events to Kafka, paced or at full speed, with progress ticks and a stop flag."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice

from core.events import UpdateEvent
from producers.producer import DeliveryReport, EventProducer
from producers.rate import TokenBucket

MAX_BATCH = 1_000  # events between two looks at the clock: ~10 ms at full speed
MIN_SLEEP_S = 0.001  # a shorter sleep costs more than it paces; the bucket makes up for it


@dataclass(frozen=True)
class Progress:
    """Where a running pump is: events sent, recent rate, failed deliveries so far."""

    sent: int
    elapsed: float
    rate: float  # events/s since the previous tick
    failed: int


@dataclass(frozen=True)
class PumpResult:
    """Outcome of a pump: the delivery counts, the time until every outcome was known."""

    report: DeliveryReport
    elapsed: float
    stopped: bool  # the stop flag ended it before the events ran out

    @property
    def rate(self) -> float:
        """Events per second, sending and confirming included."""
        return self.report.sent / self.elapsed if self.elapsed > 0 else 0.0


def pump(
    producer: EventProducer,
    events: Iterable[UpdateEvent],
    *,
    rate: float | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    progress_interval: float = 0.5,
    flush_timeout: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] | None = None,
) -> PumpResult:
    """Send `events` (at most `rate` per second) until they run out or `stop` is set; flush."""
    stop = stop or threading.Event()
    sleep = sleep or stop.wait  # wakes at once when stop is set
    bucket = TokenBucket(rate, clock=clock) if rate is not None else None
    it = iter(events)
    start = clock()
    tick_start, tick_sent, next_tick = start, 0, start + progress_interval
    sent = 0
    exhausted = False
    while not exhausted and not stop.is_set():
        allowed = bucket.take(MAX_BATCH) if bucket is not None else MAX_BATCH
        if allowed == 0:
            assert bucket is not None
            until_tick = next_tick - clock() if on_progress is not None else bucket.delay()
            sleep(max(min(bucket.delay(), until_tick), MIN_SLEEP_S))
        else:
            n = 0
            for event in islice(it, allowed):
                producer.send(event)
                n += 1
            sent += n
            exhausted = n < allowed
        producer.poll(0)
        now = clock()
        if on_progress is not None and now >= next_tick:
            recent = (sent - tick_sent) / (now - tick_start)
            on_progress(Progress(sent, now - start, recent, producer.report().failed))
            tick_start, tick_sent, next_tick = now, sent, now + progress_interval
    report = producer.flush(flush_timeout)
    return PumpResult(report=report, elapsed=clock() - start, stopped=not exhausted)
