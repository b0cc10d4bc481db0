"""Freshness: at a steady rate, the time from an event's produce to Feast returning its value.

The producer sends updates of a small entity pool at a fixed rate; each event carries its
produce time as `event_timestamp`. A sampler process polls `get_online_features` for a fixed
set of those entities and notes the wall time a call first returns each new event time.
Freshness of an event = that time - its event timestamp (same host clock). An event whose
entity was updated again before a poll saw it is "superseded" (its value was never the newest
long enough to be read) and is not a sample; an event never seen and never superseded is an
error.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.config import FreshnessConfig
from bench.consumers import RunningConsumer, processor
from bench.cpu import CpuSnapshot
from bench.events import EntityRef, StreamLog, measured_stream, sample_entities, subpool
from bench.ingest_figures import stage_figures
from bench.memory import MemoryMonitor
from bench.procs import ChildProcess, child_env, free_port
from bench.stack import BenchStack
from bench.stats import latency_summary, percentile
from bench.verify import micros
from core.contract import VIEWS_BY_NAME
from core.settings import Settings
from core.topics import ensure_topics
from producers.entities import EntityPool
from producers.pump import pump
from producers.random_updates import VIEW_WEIGHTS

Say = Callable[[str], None]

_SAMPLER_READY_S = 90.0
_DRAIN_S = 60.0


@dataclass
class FreshnessResult:
    """Latency percentiles, sample accounting and the achieved rate."""

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
    slowest: list[tuple[float, float]] = field(default_factory=list)  # (s after start, ms)
    by_window: list[dict[str, float | None]] = field(default_factory=list)  # per 10 s
    stages: dict[str, float] = field(default_factory=dict)  # the processor's batch figures
    cores: dict[str, float] = field(default_factory=dict)  # per service, during the run
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "verified": not self.errors}


def pool_sizes(config: FreshnessConfig) -> dict[str, int]:
    """Entities per view so that each is updated about `updates_per_entity_s` times a second."""
    total = sum(VIEW_WEIGHTS.values())
    return {
        name: max(
            config.sampled_per_view, round(config.rate * w / total / config.updates_per_entity_s)
        )
        for name, w in VIEW_WEIGHTS.items()
    }


def run_freshness(
    stack: BenchStack, pool: EntityPool, config: FreshnessConfig, monitor: MemoryMonitor, say: Say
) -> FreshnessResult:
    """One processor worker, a sampler process, `rate` events/s for `seconds`."""
    small = subpool(pool, pool_sizes(config))
    watched = sample_entities(small, config.sampled_per_view)
    kind = processor(1)
    settings = stack.isolated("freshness", metrics_port=free_port())
    ensure_topics(settings)
    consumer = RunningConsumer(kind, settings, stack.logs)
    monitor.watch(kind.name, consumer.child.pid)
    sampler: ChildProcess | None = None
    try:
        consumer.wait_assigned(2 * settings.topic_partitions)
        consumer.warm_up(pool, config.warmup_events)
        sampler, out_path, stop_file = _start_sampler(stack, settings, watched, config)
        base = consumer.counted()
        pids = {
            **stack.service_pids(),
            kind.name: consumer.child.pid,
            "sampler": sampler.pid,
        }
        stages = consumer.stages()
        cpu = CpuSnapshot.take(pids, {"bench": os.getpid()})
        started = time.monotonic()
        count = round(config.rate * config.seconds)
        log = StreamLog(watched=frozenset(watched), keep_all=True)
        say(
            f"freshness: {config.rate:,.0f} events/s for {config.seconds:.0f} s, "
            f"{len(watched)} entities sampled"
        )
        pumped = pump(consumer.producer, measured_stream(small, count, log), rate=config.rate)
        errors = [] if pumped.report.ok else [f"producer: {pumped.report.summary()}"]
        deadline = time.monotonic() + _DRAIN_S
        while consumer.counted() - base < count and time.monotonic() < deadline:
            consumer.child.check_running()
            time.sleep(0.1)
        processed = int(consumer.counted() - base)
        cores = CpuSnapshot.take(pids, {"bench": os.getpid()}).cores_since(cpu)
        stages = stage_figures(stages, consumer.stages(), time.monotonic() - started, 1)
        if processed < count:
            errors.append(f"processor wrote {processed:,} of {count:,} events")
        time.sleep(0.5)  # the sampler's last polls
        stop_file.touch()
        sampler.wait_exit(30)
        data = json.loads(out_path.read_text())
    finally:
        monitor.unwatch(kind.name)
        if sampler is not None:
            sampler.stop()
        consumer.stop()
    result = _result(config, log, count / pumped.elapsed, processed, data, errors)
    result.stages, result.cores = stages, cores
    return result


def _start_sampler(
    stack: BenchStack, settings: Settings, watched: list[EntityRef], config: FreshnessConfig
) -> tuple[ChildProcess, Path, Path]:
    """The sampler process, once its first read is done (Feast imported, clients open)."""
    by_view: dict[str, list[Any]] = {}
    for name, key in watched:
        by_view.setdefault(name, []).append(key)
    names = list(by_view)
    keys = {name: VIEWS_BY_NAME[name].entity.name for name in names}
    # One entity row per index holds a key of each view: one Feast call reads them all.
    width = max(len(v) for v in by_view.values())
    rows = [{keys[n]: by_view[n][i % len(by_view[n])] for n in names} for i in range(width)]
    work = stack.root / "freshness"
    work.mkdir(exist_ok=True)
    spec, out, stop_file = work / "spec.json", work / "samples.json", work / "stop"
    stop_file.unlink(missing_ok=True)
    spec.write_text(
        json.dumps(
            {
                "rows": rows,
                "views": keys,
                "interval_ms": config.poll_interval_ms,
                "stop_file": str(stop_file),
            }
        )
    )
    sampler = ChildProcess(
        "freshness sampler",
        [sys.executable, "-m", "bench.sampler", str(spec), str(out)],
        child_env(settings),
        stack.logs / "sampler.log",
    )
    sampler.wait_until(
        lambda: "sampler ready" in sampler.log_text(), _SAMPLER_READY_S, "its first read"
    )
    return sampler, out, stop_file


def _windows(
    timed: list[tuple[float, float]], width: float = 10.0
) -> list[dict[str, float | None]]:
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


def _result(
    config: FreshnessConfig,
    log: StreamLog,
    achieved: float,
    processed: int,
    data: dict[str, Any],
    errors: list[str],
) -> FreshnessResult:
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
        by_window=_windows(timed),
        errors=errors,
    )
