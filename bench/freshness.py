"""Freshness: at a steady rate, the time from an event's produce to Feast returning its value.

The producer sends updates of a small entity pool at a fixed rate; each event carries its
produce time as `event_timestamp`. A sampler process polls `get_online_features` for a fixed
set of those entities and notes the wall time a call first returns each new event time.
Freshness of an event = that time - its event timestamp (same host clock). An event whose
entity was updated again before a poll saw it is "superseded" (its value was never the newest
long enough to be read) and is not a sample; an event never seen and never superseded is an
error.

Beside them the broker floor (bench.broker_floor, its own process) tails the same topics with a
plain low-latency consumer: receive time - event timestamp of every event, the Kafka hop alone,
measured on the same broker at the same moment.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bench.config import FreshnessConfig
from bench.consumers import RunningConsumer, processor
from bench.cpu import CpuSnapshot
from bench.events import StreamLog, measured_stream, sample_entities, subpool
from bench.freshness_children import Helper, start_floor, start_sampler
from bench.freshness_figures import FreshnessResult, floor_summary, freshness_result
from bench.ingest_figures import stage_figures
from bench.memory import MemoryMonitor
from bench.procs import free_port
from bench.stack import BenchStack
from bench.verify import micros
from core.topics import ensure_topics
from producers.entities import EntityPool
from producers.pump import pump
from producers.random_updates import VIEW_WEIGHTS

Say = Callable[[str], None]

_DRAIN_S = 60.0


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
    stack: BenchStack,
    pool: EntityPool,
    config: FreshnessConfig,
    monitor: MemoryMonitor,
    say: Say,
    label: str = "fixed",
) -> FreshnessResult:
    """One processor worker, the sampler and the broker floor, `rate` events/s for `seconds`."""
    small = subpool(pool, pool_sizes(config))
    watched = sample_entities(small, config.sampled_per_view)
    kind = processor(1)
    settings = stack.isolated(f"freshness-{label}", metrics_port=free_port())
    ensure_topics(settings)
    work = stack.root / f"freshness-{label}"
    work.mkdir(exist_ok=True)
    stop_file = work / "stop"
    stop_file.unlink(missing_ok=True)
    consumer = RunningConsumer(kind, settings, stack.logs)
    monitor.watch(kind.name, consumer.child.pid)
    helpers: list[Helper] = []
    try:
        consumer.wait_assigned()
        consumer.warm_up(pool, config.warmup_events)
        # The floor first: it joins at the end of the topics, after the warm-up events.
        helpers.append(floor := start_floor(settings, work, stop_file))
        helpers.append(sampler := start_sampler(settings, watched, config, work, stop_file))
        base = consumer.counted()
        pids = {
            **stack.service_pids(),
            kind.name: consumer.child.pid,
            "sampler": sampler.child.pid,
            "broker-floor": floor.child.pid,
        }
        stages = consumer.stages()
        cpu = CpuSnapshot.take(pids, {"bench": os.getpid()})
        started = time.monotonic()
        since_us = micros(datetime.now(UTC))  # every measured event is stamped after this
        count = round(config.rate * config.seconds)
        log = StreamLog(watched=frozenset(watched), keep_all=True)
        say(
            f"freshness ({label}): {config.rate:,.0f} events/s for {config.seconds:.0f} s, "
            f"{len(watched)} entities sampled, broker floor on"
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
        sampled, floored = sampler.result(), floor.result()
    finally:
        monitor.unwatch(kind.name)
        for helper in helpers:
            helper.child.stop()
        consumer.stop()
    result = freshness_result(config, log, count / pumped.elapsed, processed, sampled, errors)
    result.add_floor(floor_summary(floored, since_us, count))
    result.label, result.stages, result.cores = label, stages, cores
    return result
