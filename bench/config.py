"""Sizes of the benchmarks (no heavy imports: `credit-pipeline --help` reads these)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IngestConfig:
    """Sizes of the ingestion benchmark."""

    events: int = 500_000
    rounds: int = 1
    workers: tuple[int, ...] = (1, 2)
    batch_rows: int = 1_000
    naive_events: int = 10_000  # baseline (a) gets this many events...
    naive_seconds: float = 60.0  # ...or this long, whichever ends first
    warmup_events: int = 1_000
    sample_per_view: int = 250
    min_seconds_per_event: float = 1 / 300  # a run slower than 300 events/s is called stuck
    only: tuple[str, ...] = ()  # run just these consumers (names); empty: all of them


@dataclass(frozen=True)
class FreshnessConfig:
    """Rate, duration and sample of the freshness benchmark."""

    rate: float = 1_000.0
    seconds: float = 300.0  # long enough for a broker or a store to slow down as it fills
    # A second run at this fraction of the one-worker ingestion rate measured in the same
    # session (None: no second run). Without the ingestion part, a short processor-1w run of
    # `probe_events` events measures that rate first.
    relative_rate: float | None = 0.25
    probe_events: int = 20_000
    # 20 rows per Feast call every 5 ms cost the sampler about a third of a core (measured);
    # one update a second per entity gives ~2,400 samples a minute, few superseded (an update
    # lands while the previous one is still in flight: ~latency x 1/s, a few percent).
    sampled_per_view: int = 20
    updates_per_entity_s: float = 1.0  # each pool entity is updated about this often
    poll_interval_ms: float = 5.0
    warmup_events: int = 1_000


@dataclass(frozen=True)
class ScoringConfig:
    """Load shapes of the scoring benchmark."""

    rate: float = 200.0
    fixed_seconds: float = 20.0
    closed_seconds: float = 15.0
    connections: int = 32
    applicants: int = 1_000
    warmup_seconds: float = 3.0
    rounds: int = 1
    server_cpus: str = "0"
    loadgen_cpus: str = "1"
