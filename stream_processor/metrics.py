"""Prometheus metrics of one worker, and the one-line summary it logs every few seconds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from core.ports import free_port, held_by, port_is_free
from core.settings import Settings
from core.stats import percentile
from stream_processor.errors import StreamProcessorError

log = logging.getLogger(__name__)


def metrics_port(settings: Settings, offset: int = 0) -> int:
    """The metrics port to bind: the configured one (plus `offset`, a worker's index). If it is
    the default and taken (say by a running demo), a free one, logged; a port set explicitly
    and taken fails with its holder named. 0: no metrics endpoint."""
    host, port = settings.metrics_host, settings.metrics_port + offset
    if not settings.metrics_port or port_is_free(host, port):
        return port if settings.metrics_port else 0
    by = held_by(port)
    if "metrics_port" in settings.model_fields_set:
        raise StreamProcessorError(
            f"cannot serve metrics on {host}:{port}: in use{by}; set CREDIT_METRICS_PORT to a "
            "free port (or 0 for no metrics endpoint)"
        )
    chosen = free_port(host)
    log.warning(
        "metrics: the default port %d is in use%s; using %d instead (CREDIT_METRICS_PORT "
        "chooses one)",
        port,
        by,
        chosen,
    )
    return chosen


# Freshness spans a local hop (a few ms) to a replayed backlog (minutes).
FRESHNESS_BUCKETS_MS = (
    1,
    2,
    5,
    10,
    20,
    50,
    100,
    200,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    60_000,
    600_000,
)
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000)
WRITE_SECONDS_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
# Samples kept for the logged percentiles between two summaries.
_WINDOW_LIMIT = 100_000


@dataclass
class _Window:
    """What happened since the last summary line."""

    started: float
    events: int = 0
    invalid: int = 0
    dead_lettered: int = 0
    freshness_ms: list[float] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)


class ProcessorMetrics:
    """Counters and histograms of the processor, in their own registry (one per worker)."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self._clock = clock
        r = self.registry
        self.events = Counter(
            "credit_stream_events_processed",
            "Valid events written to both stores",
            ["view"],
            registry=r,
        )
        self.invalid = Counter(
            "credit_stream_events_invalid", "Events that broke the contract", ["view"], registry=r
        )
        self.dead_lettered = Counter(
            "credit_stream_events_dead_lettered",
            "Invalid events sent to the dead-letter topic",
            ["view"],
            registry=r,
        )
        self.decisions_logged = Counter(
            "credit_stream_decisions_logged",
            "Decision records appended to the decision log (a redelivered one counts once)",
            registry=r,
        )
        self.batch_size = Histogram(
            "credit_stream_batch_size",
            "Records per micro-batch",
            buckets=BATCH_SIZE_BUCKETS,
            registry=r,
        )
        self.write_seconds = Histogram(
            "credit_stream_write_seconds",
            "Duration of a successful batch write per store",
            ["store"],
            buckets=WRITE_SECONDS_BUCKETS,
            registry=r,
        )
        self.freshness_ms = Histogram(
            "credit_stream_freshness_ms",
            "Event timestamp to value written online, milliseconds",
            buckets=FRESHNESS_BUCKETS_MS,
            registry=r,
        )
        self.poison = Counter(
            "credit_stream_events_poison",
            "Invalid events the dead-letter topic refused even as a truncated copy (skipped)",
            ["view"],
            registry=r,
        )
        self.lag = Gauge(
            "credit_stream_lag_events",
            "Events on this worker's partitions not yet written (end offset - next to write)",
            registry=r,
        )
        self.stalled = Gauge(
            "credit_stream_stalled",
            "1 while events wait and no batch has been written for CREDIT_STALL_SECONDS",
            registry=r,
        )
        self.fetch_wait_ms = Gauge(
            "credit_stream_fetch_max_wait_ms",
            "Broker-side fetch wait in use (raised while fetches come back empty with lag)",
            registry=r,
        )
        self.batches_in_flight = Gauge(
            "credit_stream_batches_in_flight",
            "Batches taken from Kafka and not yet in both stores (one store may be ahead)",
            registry=r,
        )
        self.store_up = Gauge(
            "credit_stream_store_up",
            "1 while the store accepts writes, 0 during an outage",
            ["store"],
            registry=r,
        )
        self._window = _Window(started=clock())
        self._trackers_down: dict[str, set[object]] = {}

    def serve(self, host: str, port: int) -> None:
        """Expose the registry as Prometheus text on `host:port` (port 0: do nothing)."""
        if port:
            start_http_server(port, addr=host, registry=self.registry)
            shown = f"[{host}]" if ":" in host else host
            log.info("metrics on http://%s:%d/metrics", shown, port)

    def store_state(self, store: str) -> Callable[[bool], None]:
        """A callback for one OutageTracker of `store`. Two agents may write to one store
        (both send dead letters): its gauge is 0 while any of its trackers sees an outage."""
        gauge = self.store_up.labels(store=store)
        down = self._trackers_down.setdefault(store, set())
        tracker = object()

        def changed(up: bool) -> None:
            if up:
                down.discard(tracker)
            else:
                down.add(tracker)
            gauge.set(0 if down else 1)

        changed(True)
        return changed

    # -- observations ----------------------------------------------------------------------

    def observe_batch(self, size: int) -> None:
        self.batch_size.observe(size)
        self._window.batch_sizes.append(size)
        del self._window.batch_sizes[:-_WINDOW_LIMIT]

    def observe_events(self, view: str, count: int) -> None:
        self.events.labels(view=view).inc(count)
        self._window.events += count

    def observe_invalid(self, view: str | None) -> None:
        self.invalid.labels(view=view or "unknown").inc()
        self._window.invalid += 1

    def observe_dead_lettered(self, view: str | None) -> None:
        self.dead_lettered.labels(view=view or "unknown").inc()
        self._window.dead_lettered += 1

    def observe_poison(self, view: str | None) -> None:
        self.poison.labels(view=view or "unknown").inc()

    def observe_write(self, store: str, seconds: float) -> None:
        self.write_seconds.labels(store=store).observe(seconds)

    def observe_freshness(self, values_ms: Sequence[float]) -> None:
        for value in values_ms:
            self.freshness_ms.observe(value)
        window = self._window.freshness_ms
        window.extend(values_ms)
        del window[:-_WINDOW_LIMIT]

    # -- summary ---------------------------------------------------------------------------

    def summary(self) -> str | None:
        """One line about the interval since the previous call; None when nothing happened."""
        now = self._clock()
        w, self._window = self._window, _Window(started=now)
        if not (w.events or w.invalid or w.batch_sizes):
            return None
        rate = w.events / max(now - w.started, 1e-9)
        p50, p99 = percentile(w.freshness_ms, 50), percentile(w.freshness_ms, 99)
        batch = percentile(w.batch_sizes, 50)
        fresh = "n/a" if p50 is None or p99 is None else f"p50 {p50:.0f} ms / p99 {p99:.0f} ms"
        return (
            f"{w.events} events ({rate:.0f}/s), invalid {w.invalid}, dead-lettered "
            f"{w.dead_lettered}, freshness {fresh}, batch p50 {batch or 0:.0f}"
        )
