"""The freshness run's figures: samples from the sampler and the broker floor, percentiles."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bench.broker_floor import FLOOR_CONSUMER_SETTINGS
from bench.config import FreshnessConfig
from bench.events import StreamLog
from bench.stats import latency_summary, percentile
from bench.verify import micros

FLOOR_DESCRIPTION = (
    "a confluent-kafka consumer in its own process, assigned every partition of the same "
    "topics from their end (a group id of its own, never joined: nothing committed, nothing "
    "written): receive wall time - event timestamp of every event, so it holds the same "
    "producer batching (linger.ms 5) and broker hop as the processor's figure and nothing "
    "else; it doubles its fetch wait whenever it trails the end the broker reported 5 waits (at "
    "least 50 ms) earlier (Tansu answers nothing once listing a partition takes longer than the "
    "wait)"
)


@dataclass
class FreshnessResult:
    """Latency percentiles, sample accounting, the achieved rate and the broker floor."""

    config: dict[str, Any]
    events: int
    achieved_rate: float
    processed: int
    sampled_entities: int
    sampled_events: int
    observed: int
    superseded: int
    missing: int
    latency_ms: dict[str, float | None]
    poll_ms: dict[str, float | None]
    polls: int
    label: str = "fixed"  # `fixed` (the configured rate) or `relative` (of one worker's)
    rate_basis: str = ""  # where the rate came from, for the report
    broker_floor: dict[str, Any] = field(default_factory=dict)
    floor_gap_p99_ms: float | None = None  # processor p99 - broker floor p99
    slowest: list[tuple[float, float]] = field(default_factory=list)  # (s after start, ms)
    by_window: list[dict[str, float | None]] = field(default_factory=list)  # per 10 s
    stages: dict[str, float] = field(default_factory=dict)  # the processor's batch figures
    cores: dict[str, float] = field(default_factory=dict)  # per service, during the run
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "verified": not self.errors}

    def add_floor(self, floor: dict[str, Any]) -> None:
        """The broker floor of the same run, and the processor's p99 above it."""
        self.broker_floor = floor
        self.floor_gap_p99_ms = difference(self.latency_ms["p99_ms"], floor["latency_ms"]["p99_ms"])
        if not floor["received"]:
            self.errors.append(f"broker floor received none of the {floor['produced']:,} events")


def difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def windows(timed: list[tuple[float, float]], width: float = 10.0) -> list[dict[str, float | None]]:
    """p50/p99 per `width` seconds of the run: a trend (a broker slowing as its log grows)
    looks different from steady noise."""
    buckets: dict[int, list[float]] = {}
    for at, ms in timed:
        buckets.setdefault(int(at // width), []).append(ms)
    return [
        {
            "from_s": i * width,
            "count": float(len(v)),
            "p50_ms": percentile(v, 50),
            "p99_ms": percentile(v, 99),
        }
        for i, v in sorted(buckets.items())
    ]


def floor_summary(data: dict[str, Any], since_us: int, produced: int) -> dict[str, Any]:
    """The broker floor's figures from its output: (event timestamp, received) pairs and
    (since, fetch wait ms) changes, in microseconds; events stamped before `since_us` (warm-up)
    are left out."""
    timed = [
        ((ts - since_us) / 1e6, (at - ts) / 1000) for ts, at in data["samples"] if ts >= since_us
    ]
    latencies = [ms for _, ms in timed]
    return {
        "description": FLOOR_DESCRIPTION,
        "consumer_settings": FLOOR_CONSUMER_SETTINGS,
        # (seconds after the run's start, negative: before it; fetch wait from then on, ms)
        "fetch_wait_ms": [[round((at - since_us) / 1e6, 1), ms] for at, ms in data["waits"]],
        "produced": produced,
        "received": len(latencies),
        "latency_ms": latency_summary(latencies),
        "by_window": windows(timed),
    }


def freshness_result(
    config: FreshnessConfig,
    log: StreamLog,
    achieved: float,
    processed: int,
    data: dict[str, Any],
    errors: list[str],
) -> FreshnessResult:
    """Match the sampler's observations with the watched events that were produced."""
    seen = {(v, k, ts): at for v, k, ts, at in data["observations"]}
    latencies: list[float] = []
    timed: list[tuple[float, float]] = []
    first = min((micros(e.event_timestamp) for e in log.watched_events), default=0)
    superseded = missing = 0
    for event in log.watched_events:
        ref = (event.view.name, event.entity_value)
        at = seen.get((*ref, micros(event.event_timestamp)))
        if at is not None:
            produced = micros(event.event_timestamp)
            latencies.append((at - produced) / 1000)
            timed.append(((produced - first) / 1e6, latencies[-1]))
        elif log.newest[ref] is not event:
            superseded += 1
        else:
            missing += 1
    if missing:
        errors.append(f"{missing} sampled events never appeared online")
    if not latencies:
        errors.append("no freshness sample was observed")
    polls = data["polls_ms"]
    return FreshnessResult(
        config=asdict(config),
        events=log.total,
        achieved_rate=achieved,
        processed=processed,
        sampled_entities=len(log.watched or ()),
        sampled_events=len(log.watched_events),
        observed=len(latencies),
        superseded=superseded,
        missing=missing,
        latency_ms=latency_summary(latencies),
        poll_ms={"p50_ms": percentile(polls, 50), "p99_ms": percentile(polls, 99)},
        polls=len(polls),
        slowest=sorted(timed, key=lambda t: -t[1])[:10],
        by_window=windows(timed),
        errors=errors,
    )
