"""Pacing: the token bucket and the pump hold the asked rate, with few sleeps at high rates."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime

import pytest

from core.contract import ZIPCODE_FEATURES
from core.events import UpdateEvent
from producers.producer import DeliveryReport
from producers.pump import Progress, pump
from producers.rate import TokenBucket

FEATURES = {c.name: 1 if c.kind == "int64" else "X" for c in ZIPCODE_FEATURES.features}
EVENT = UpdateEvent(
    ZIPCODE_FEATURES, "e-1", datetime(2026, 1, 1, tzinfo=UTC), {"zipcode": 76104, **FEATURES}
)


class FakeClock:
    """Time that moves only when slept on (plus a fixed cost per event sent)."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps = 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds + 0.00005  # the OS wakes us a little late


class FakeProducer:
    """Counts sends; each costs `cost` seconds of the fake clock."""

    def __init__(self, clock: FakeClock, cost: float = 0.0) -> None:
        self.clock = clock
        self.cost = cost
        self.sent = 0

    def send(self, event: UpdateEvent) -> None:
        self.sent += 1
        self.clock.now += self.cost

    def poll(self, timeout: float = 0) -> None:
        pass

    def report(self) -> DeliveryReport:
        return DeliveryReport(self.sent, self.sent, 0)

    def flush(self, timeout: float = 30.0) -> DeliveryReport:
        return self.report()


@pytest.mark.parametrize("rate", [0.5, 3, 100, 10_000, 250_000])
def test_the_bucket_holds_the_rate_over_time(rate: float) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate, clock=clock)
    seconds = max(20.0, 40 / rate)
    end = clock.now + seconds
    taken = 0
    while clock.now < end:
        n = bucket.take(1_000)
        taken += n
        if n == 0:
            clock.sleep(max(bucket.delay(), 0.001))
    assert taken == pytest.approx(rate * seconds, rel=0.01, abs=1.5)


def test_the_first_event_goes_at_once_and_there_is_no_initial_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1_000, clock=clock)
    assert bucket.take(10_000) == 1
    assert bucket.take(10_000) == 0
    assert bucket.delay() == pytest.approx(0.001)


def test_a_stall_releases_at_most_a_tenth_of_a_second_of_events() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1_000, clock=clock)
    bucket.take(1)
    clock.now += 5.0  # e.g. the process was suspended
    assert bucket.take(1_000_000) == 101


@pytest.mark.parametrize(("rate", "cost"), [(2, 0.0), (500, 0.0), (50_000, 2e-6), (400_000, 2e-6)])
def test_the_pump_sends_at_the_rate_and_sleeps_once_per_batch(rate: float, cost: float) -> None:
    clock = FakeClock()
    producer = FakeProducer(clock, cost)
    seconds = 10.0
    count = int(rate * seconds)
    result = pump(
        producer,  # type: ignore[arg-type]
        itertools.repeat(EVENT, count),
        rate=rate,
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.report.sent == count
    assert result.elapsed == pytest.approx(seconds, rel=0.01, abs=0.002)
    # Never a sleep per event at high rates: the bucket fills during ~1 ms sleeps.
    assert clock.sleeps <= min(count, seconds * 1_000) * 1.05 + 2


def test_progress_ticks_twice_a_second_even_at_a_slow_rate() -> None:
    clock = FakeClock()
    ticks: list[Progress] = []
    pump(
        FakeProducer(clock),  # type: ignore[arg-type]
        itertools.repeat(EVENT, 5),
        rate=1,
        clock=clock,
        sleep=clock.sleep,
        on_progress=ticks.append,
    )
    assert 8 <= len(ticks) <= 10  # ~4 s of events at 2 ticks/s
    assert [t.sent for t in ticks] == sorted(t.sent for t in ticks)
    assert ticks[-1].rate == pytest.approx(1.0, abs=2.0)


def test_unpaced_pump_sends_everything_and_stop_ends_it() -> None:
    clock = FakeClock()
    producer = FakeProducer(clock)
    result = pump(producer, itertools.repeat(EVENT, 12_345), clock=clock)  # type: ignore[arg-type]
    assert result.report.sent == 12_345 and not result.stopped

    stop = threading.Event()
    stop.set()
    result = pump(producer, itertools.repeat(EVENT), stop=stop, clock=clock)  # type: ignore[arg-type]
    assert result.stopped


def test_a_real_short_run_holds_the_rate() -> None:
    """On the real clock: 0.6 s at 5000 events/s."""
    producer = FakeProducer(FakeClock())
    stop = threading.Event()
    timer = threading.Timer(0.6, stop.set)
    timer.start()
    started = time.monotonic()
    result = pump(producer, itertools.repeat(EVENT), rate=5_000, stop=stop)  # type: ignore[arg-type]
    elapsed = time.monotonic() - started
    timer.join()
    assert result.report.sent == pytest.approx(5_000 * elapsed, rel=0.05)
