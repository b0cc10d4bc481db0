"""Lag from offsets the worker can trust, and a stall detector on top of it.

A broker's end offsets are only a hint (Tansu's run a few records below the real end), so the
lag of a partition is the reported end minus the next offset this worker has still to write,
never below zero. A stall is lag that nothing drains: events wait and no batch has been
written for `stall_seconds`, whatever the reason (a fetch that keeps coming back empty, a
store that hangs, a bug). It is logged once when it starts and once when it ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Partition = tuple[str, int]


@dataclass
class WrittenOffsets:
    """Per partition, the next offset to write (the last written + 1), and a batch counter."""

    next: dict[Partition, int] = field(default_factory=dict)
    batches: int = 0
    events: int = 0

    def record(self, positions: Iterable[tuple[str, int, int]]) -> None:
        """A batch was written: its (topic, partition, offset) records are in both stores."""
        for topic, partition, offset in positions:
            key = (topic, partition)
            if offset >= self.next.get(key, 0):
                self.next[key] = offset + 1
            self.events += 1
        self.batches += 1

    def forget(self, partitions: Iterable[Partition]) -> None:
        """After a rebalance the consumer restarts from the committed offset, not from ours."""
        for key in partitions:
            self.next.pop((key[0], key[1]), None)


def lag(ends: Mapping[Partition, int], next_offsets: Mapping[Partition, int]) -> int:
    """Events between the next offset to write and the reported end, summed; never negative."""
    return sum(max(0, end - next_offsets.get(tp, end)) for tp, end in ends.items())


@dataclass
class StallDetector:
    """Says when lag stays above zero while the written-batch counter does not move."""

    stall_seconds: float
    on_change: Callable[[bool], None] = field(default=lambda stalled: None)
    clock: Callable[[], float] = time.monotonic
    _batches: int = -1
    _progress_at: float | None = None
    _stalled_at: float | None = None

    @property
    def stalled(self) -> bool:
        return self._stalled_at is not None

    def observe(self, lag: int, batches: int) -> None:
        now = self.clock()
        if self._progress_at is None or batches != self._batches or lag <= 0:
            self._batches = batches
            self._progress_at = now
        idle = now - self._progress_at
        if lag > 0 and idle >= self.stall_seconds and self._stalled_at is None:
            self._stalled_at = self._progress_at
            log.warning(
                "stream stalled: %d events wait and no batch was written for %.0f s "
                "(credit_stream_stalled=1; see the store and broker lines around this one)",
                lag,
                idle,
            )
            self.on_change(True)
        elif self._stalled_at is not None and idle < self.stall_seconds:
            log.warning(
                "stream moving again after %.0f s stalled; %d events wait",
                now - self._stalled_at,
                lag,
            )
            self._stalled_at = None
            self.on_change(False)


def starving(lag: int, written: int, busy_fraction: float) -> int:
    """Events the fetcher fails to deliver over one look: more waiting than a quarter of what
    was written in it (at a steady rate, the worker is a quarter of a look, 0.5 s, behind),
    while the writer sat idle most of the time (0 when fetching keeps up).

    Catching up, the writer is the bottleneck and stays busy; in a steady stream the lag is a
    batch window's worth, a small fraction of what one look writes; during a store outage the
    writer is busy retrying.
    """
    return lag if lag > max(written // 4, 1) and busy_fraction < 0.5 else 0


@dataclass
class AdaptiveFetchWait:
    """Raises the broker-side fetch wait while fetches come back empty with records waiting.

    Tansu, the embedded broker, lists every batch a partition ever stored on each fetch
    (about 1 us per batch) and gives up with an empty answer when that takes longer than the
    fetch's wait; a wait that keeps fresh values on a young topic starves the worker on an old
    one. Real Kafka answers as soon as data is there, so it never triggers this.
    """

    wait_ms: int
    cap_ms: int
    on_change: Callable[[int], None] = field(default=lambda wait_ms: None)
    # Consecutive starving looks before a raise (one look is one progress interval).
    patience: int = 2
    _starving_looks: int = 0
    _at_cap_logged: bool = False
    _last: tuple[int, float, float] | None = None

    def look(self, lag: int, written_events: int, busy_seconds: float, now: float) -> None:
        """One look: current lag, events written and writer busy time so far (both totals)."""
        if self._last is not None:
            events, busy, at = self._last
            busy_fraction = (busy_seconds - busy) / max(now - at, 1e-3)
            self.observe(starving(lag, written_events - events, busy_fraction))
        self._last = (written_events, busy_seconds, now)

    def observe(self, waiting: int) -> None:
        """`waiting`: events the fetcher is not delivering (0 when fetching keeps up)."""
        if waiting <= 0:
            self._starving_looks = 0
            return
        self._starving_looks += 1
        if self._starving_looks < self.patience:
            return
        self._starving_looks = 0
        if self.wait_ms >= self.cap_ms:
            if not self._at_cap_logged:
                log.error(
                    "broker still answers fetches with no records (%d events wait) at the "
                    "highest fetch wait, %d ms (CREDIT_KAFKA_FETCH_MAX_WAIT_CAP_MS)",
                    waiting,
                    self.cap_ms,
                )
                self._at_cap_logged = True
            return
        raised = min(self.cap_ms, max(2 * self.wait_ms, self.wait_ms + 10))
        log.warning(
            "broker answers fetches with no records while %d events wait: fetch wait raised "
            "from %d to %d ms (values get older by about that much; docs/reliability.md)",
            waiting,
            self.wait_ms,
            raised,
        )
        self.wait_ms = raised
        self.on_change(raised)
