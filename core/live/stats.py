"""Throughput and freshness of the live feed per second, and the most recent updates per view."""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from core.live.messages import OnlineUpdate
from core.stats import percentile  # the processor's summary uses the same rank

HORIZON_S = 60  # seconds of history the chart shows
SUMMARY_WINDOW_S = 5  # seconds the headline numbers average over
MAX_LAG_SAMPLES = 2_000  # per second; a reservoir keeps percentiles honest at any rate


@dataclass
class _Second:
    """What arrived during one wall-clock second."""

    second: int
    events: int = 0
    by_view: dict[str, int] = field(default_factory=dict)
    lags_ms: list[float] = field(default_factory=list)
    seen_lags: int = 0


@dataclass(frozen=True)
class SecondPoint:
    """One point of the chart: events and lag percentiles of one second."""

    second: int
    events: int
    lag_p50_ms: float | None
    lag_p99_ms: float | None


@dataclass(frozen=True)
class Summary:
    """Headline numbers over the last few complete seconds."""

    rate: float
    rate_by_view: dict[str, float]
    lag_p50_ms: float | None
    lag_p99_ms: float | None
    total: int


class FeedStats:
    """Per-second counts and lag samples of the updates seen, over the last HORIZON_S."""

    def __init__(self, clock: Callable[[], float] = time.time, seed: int | None = None) -> None:
        self._clock = clock
        self._rng = random.Random(seed)
        self._seconds: deque[_Second] = deque()
        self.total = 0

    def observe(self, updates: Sequence[OnlineUpdate]) -> None:
        bucket = self._bucket(int(self._clock()))
        bucket.events += len(updates)
        self.total += len(updates)
        for update in updates:
            bucket.by_view[update.view] = bucket.by_view.get(update.view, 0) + 1
            # Reservoir sampling: every lag has the same chance of being kept.
            bucket.seen_lags += 1
            if len(bucket.lags_ms) < MAX_LAG_SAMPLES:
                bucket.lags_ms.append(update.lag_ms)
            else:
                slot = self._rng.randrange(bucket.seen_lags)
                if slot < MAX_LAG_SAMPLES:
                    bucket.lags_ms[slot] = update.lag_ms

    def _bucket(self, second: int) -> _Second:
        if not self._seconds or self._seconds[-1].second != second:
            self._seconds.append(_Second(second))
        while self._seconds and self._seconds[0].second <= second - HORIZON_S - 1:
            self._seconds.popleft()
        return self._seconds[-1]

    def _complete(self, now: int, span: int) -> list[_Second]:
        """Buckets of the `span` complete seconds before `now` (gaps filled with empties)."""
        kept = {b.second: b for b in self._seconds}
        return [kept.get(s) or _Second(s) for s in range(now - span, now)]

    def series(self) -> list[SecondPoint]:
        """One point per complete second of the horizon, oldest first."""
        return [
            SecondPoint(b.second, b.events, percentile(b.lags_ms, 50), percentile(b.lags_ms, 99))
            for b in self._complete(int(self._clock()), HORIZON_S)
        ]

    def summary(self) -> Summary:
        now = int(self._clock())
        window = self._complete(now, SUMMARY_WINDOW_S)
        # Right after start, average over the seconds observed so far, not the whole window.
        first = self._seconds[0].second if self._seconds else now
        span = max(1, min(SUMMARY_WINDOW_S, now - first))
        window = window[-span:]
        by_view: dict[str, float] = {}
        for bucket in window:
            for view, count in bucket.by_view.items():
                by_view[view] = by_view.get(view, 0.0) + count / span
        lags = [lag for bucket in window for lag in bucket.lags_ms]
        return Summary(
            rate=sum(b.events for b in window) / span,
            rate_by_view=by_view,
            lag_p50_ms=percentile(lags, 50),
            lag_p99_ms=percentile(lags, 99),
            total=self.total,
        )


class RecentUpdates:
    """The newest updates of each view, newest first."""

    def __init__(self, per_view: int = 15) -> None:
        self._per_view = per_view
        self._views: dict[str, deque[OnlineUpdate]] = {}

    def add(self, updates: Sequence[OnlineUpdate]) -> None:
        for update in updates[-self._per_view :]:
            queue = self._views.get(update.view)
            if queue is None:
                queue = self._views[update.view] = deque(maxlen=self._per_view)
            queue.appendleft(update)

    def of(self, view: str) -> list[OnlineUpdate]:
        return list(self._views.get(view, ()))

    def newest(self, limit: int) -> list[OnlineUpdate]:
        """The newest `limit` updates across views, by time written."""
        every = [u for queue in self._views.values() for u in queue]
        every.sort(key=lambda u: u.written_at, reverse=True)
        return every[:limit]
