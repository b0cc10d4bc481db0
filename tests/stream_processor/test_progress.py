"""Lag from the worker's own offsets, and the stall detector's one line each way."""

from __future__ import annotations

import logging

import pytest

from stream_processor.progress import (
    AdaptiveFetchWait,
    StallDetector,
    WrittenOffsets,
    lag,
    starving,
)


def test_lag_never_goes_below_zero_when_the_broker_reports_a_short_end() -> None:
    written = WrittenOffsets()
    written.record([("t", 0, 9), ("t", 0, 4), ("t", 1, 99)])
    assert written.next == {("t", 0): 10, ("t", 1): 100}
    # Tansu's end offsets may sit a few records below the real end.
    assert lag({("t", 0): 15, ("t", 1): 94}, written.next) == 5
    assert lag({("t", 2): 7}, written.next) == 0  # unknown partition: no claim
    written.forget([("t", 0)])
    assert ("t", 0) not in written.next and written.batches == 1


def test_a_stall_is_reported_once_when_it_starts_and_once_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    states: list[bool] = []
    detector = StallDetector(30, states.append, clock=lambda: now[0])
    caplog.set_level(logging.WARNING)
    detector.observe(lag=100, batches=5)
    for t in (10, 29):
        now[0] = t
        detector.observe(lag=120, batches=5)
    assert not detector.stalled
    for t in (31, 40, 50):
        now[0] = t
        detector.observe(lag=150, batches=5)
    assert detector.stalled and states == [True]
    now[0] = 52
    detector.observe(lag=40, batches=6)
    assert not detector.stalled and states == [True, False]
    assert caplog.text.count("stream stalled") == 1
    assert caplog.text.count("stream moving again after 52 s") == 1


def test_no_lag_is_no_stall_however_long_nothing_is_written() -> None:
    now = [0.0]
    detector = StallDetector(30, clock=lambda: now[0])
    for t in range(0, 300, 10):
        now[0] = t
        detector.observe(lag=0, batches=0)
    assert not detector.stalled


def test_the_fetch_wait_doubles_only_while_an_idle_writer_faces_a_backlog() -> None:
    changes: list[int] = []
    wait = AdaptiveFetchWait(10, 100, changes.append)
    t = 0.0
    # A steady stream: a small lag, most of it written within each look.
    wait.look(lag=5, written_events=0, busy_seconds=0.0, now=t)
    for i in range(1, 6):
        wait.look(lag=8, written_events=500 * i, busy_seconds=0.2 * i, now=t + 2 * i)
    # Catching up a backlog with the writer busy all the time: fetching keeps up.
    for i in range(6, 11):
        wait.look(lag=40_000, written_events=500 * i, busy_seconds=2.0 * i, now=t + 2 * i)
    assert changes == []
    # A backlog, a trickle written, the writer idle: the broker answers fetches empty.
    busy = 20.0
    for i in range(11, 21):
        wait.look(lag=40_000, written_events=5_000 + i, busy_seconds=busy, now=t + 2 * i)
    assert changes == [20, 40, 80, 100]  # one raise per two starving looks
    assert wait.wait_ms == 100  # never past the cap


def test_starving_needs_a_quarter_look_of_waiting_and_an_idle_writer() -> None:
    assert starving(lag=1000, written=10, busy_fraction=0.1) == 1000
    assert starving(lag=600, written=2000, busy_fraction=0.1) == 600  # 0.6 s behind at 1,000/s
    # 0.4 s behind: a quarter of a look (2 s) is the threshold
    assert starving(lag=400, written=2000, busy_fraction=0.1) == 0
    assert starving(lag=1000, written=10, busy_fraction=0.9) == 0  # writer is the bottleneck
    assert starving(lag=10, written=1000, busy_fraction=0.1) == 0  # steady stream
    assert starving(lag=0, written=0, busy_fraction=0.0) == 0
