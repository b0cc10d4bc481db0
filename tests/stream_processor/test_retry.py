"""Retries: exponential backoff capped, one log line when an outage starts and one when it ends."""

from __future__ import annotations

import asyncio
import logging

import pytest

from stream_processor.retry import Backoff, OutageTracker, retry_until_done


def test_backoff_doubles_up_to_its_cap() -> None:
    delays = Backoff(initial=0.1, factor=2, cap=0.5).delays()
    assert [round(next(delays), 3) for _ in range(6)] == [0.1, 0.2, 0.4, 0.5, 0.5, 0.5]


class _Flaky:
    """Fails `failures` times with `exc`, then returns "done"."""

    def __init__(self, failures: int, exc: Exception) -> None:
        self.failures = failures
        self.exc = exc
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc
        return "done"


def _run(op: _Flaky, tracker: OutageTracker, slept: list[float]) -> str:
    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    return asyncio.run(retry_until_done(op, tracker, Backoff(0.1, 2, 5), sleep=sleep))


def test_an_outage_logs_one_line_when_it_starts_and_one_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = iter(range(0, 1000, 3))
    states: list[bool] = []
    tracker = OutageTracker(
        "online store",
        "127.0.0.1:6379",
        (ConnectionError,),
        states.append,
        clock=lambda: next(ticks),
    )
    slept: list[float] = []
    caplog.set_level(logging.INFO, logger="stream_processor.retry")
    op = _Flaky(8, ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."))
    assert _run(op, tracker, slept) == "done"
    assert op.calls == 9
    assert slept == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5, 5]
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == [
        "online store unreachable at 127.0.0.1:6379: Error 111 connecting to 127.0.0.1:6379. "
        "Connection refused.; retrying (batch held, offsets not committed)",
        "online store reachable again at 127.0.0.1:6379 after 3.0 s (8 failed attempts); "
        "batch written",
    ]
    assert not any(r.exc_info for r in caplog.records)
    assert states == [False, True]
    assert not tracker.down


def test_an_unexpected_error_is_shown_once_with_its_traceback_and_still_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker = OutageTracker("offline store", "pg", (ConnectionError,))
    op = _Flaky(3, ValueError("boom"))
    assert _run(op, tracker, []) == "done"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None


def test_a_fatal_error_is_not_retried() -> None:
    tracker = OutageTracker("registry", "pg")

    async def fail() -> None:
        raise LookupError("not registered")

    with pytest.raises(LookupError):
        asyncio.run(retry_until_done(fail, tracker, fatal=(LookupError,)))
    assert tracker.attempts == 0


def test_success_without_outage_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    assert _run(_Flaky(0, ConnectionError()), OutageTracker("s", "a"), []) == "done"
    assert not caplog.records
