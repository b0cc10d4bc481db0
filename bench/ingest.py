"""Ingestion throughput: K events from first produce until every one is in the stores.

Every consumer (the processor with 1 and 2 workers, the two `store.push` baselines, a faust
agent that writes nowhere) gets the same seeded events on topics of its own, in rounds that
interleave the consumers so machine noise falls on all of them alike. A run is timed from the
first produce until the consumer's counter says every event is written; then the counts are
verified: offline rows of the run per table (the processor), and the newest value and event
time of a sample of entities in Redis.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from bench.config import IngestConfig
from bench.consumers import (
    PROCESSED,
    ConsumerKind,
    RunningConsumer,
    consume_only,
    processor,
    push_batch,
    push_per_event,
)
from bench.cpu import CpuSnapshot
from bench.errors import BenchError
from bench.events import StreamLog, measured_stream, sample_newest
from bench.ingest_figures import IngestResult, IngestRun, stage_figures, summarise
from bench.memory import MemoryMonitor
from bench.procs import free_port
from bench.profiling import Profile, profiled
from bench.stack import BenchStack
from bench.stages import stage_costs
from bench.verify import check_online, offline_counts
from core.events import UpdateEvent
from core.settings import Settings
from core.topics import ensure_topics
from producers.entities import EntityPool
from producers.pump import PumpResult, pump

if TYPE_CHECKING:
    from feast import FeatureStore

Say = Callable[[str], None]

_POLL_S = 0.1
STAGE_EVENTS = 20_000
_FLUSH_TIMEOUT_S = 120.0
_OFFLINE_SETTLE_S = 60.0  # redelivered events count twice; the exact count may trail a little


def consumer_kinds(config: IngestConfig) -> list[ConsumerKind]:
    """In the order a round runs them; baseline (a) only in the first round."""
    return [
        *(processor(n) for n in config.workers),
        push_batch(config.batch_rows),
        consume_only(config.batch_rows),
    ]


def chosen_consumers(kinds: list[ConsumerKind], only: Sequence[str]) -> list[ConsumerKind]:
    """`kinds` narrowed to the names of `--only` (all when empty); an unknown name is an error."""
    unknown = sorted(set(only) - {k.name for k in kinds})
    if unknown:
        names = ", ".join(k.name for k in kinds)
        raise BenchError(f"--only: no consumer named {', '.join(unknown)} (there are: {names})")
    return [k for k in kinds if not only or k.name in only]


def run_ingest(
    stack: BenchStack,
    store: FeatureStore,
    pool: EntityPool,
    config: IngestConfig,
    monitor: MemoryMonitor,
    say: Say,
) -> IngestResult:
    """All rounds; a round runs every consumer once on the same events."""
    runs: list[IngestRun] = []
    kinds = consumer_kinds(config)
    naive = push_per_event()
    chosen = chosen_consumers([*kinds, naive], config.only)
    for round_no in range(1, config.rounds + 1):
        plan = [k for k in chosen if round_no == 1 or k is not naive]
        for kind in plan:
            capped = kind is naive
            count = min(config.naive_events, config.events) if capped else config.events
            say(f"ingest round {round_no}/{config.rounds}: {kind.name}, {count:,} events")
            run = _run_one(stack, store, pool, kind, count, round_no, config, monitor)
            runs.append(run)
            status = "verified" if run.verified else "NOT VERIFIED: " + "; ".join(run.errors)
            say(
                f"  {run.done:,} events in {run.seconds:.1f} s = {run.events_per_s:,.0f}/s "
                f"({status})"
            )
    result = summarise(config, chosen, runs)
    say("ingest: the processor's stages one by one (CPU per event)")
    result.stage_us = stage_costs(stack, pool, min(config.events, STAGE_EVENTS), config.batch_rows)
    return result


@contextmanager
def started_consumer(
    stack: BenchStack, pool: EntityPool, kind: ConsumerKind, warmup: int, monitor: MemoryMonitor
) -> Iterator[RunningConsumer]:
    """A consumer on topics of its own, its group settled and warmed up; stopped at exit."""
    settings = stack.isolated(kind.name, metrics_port=free_port(kind.workers))
    ensure_topics(settings)
    consumer = RunningConsumer(kind, settings, stack.logs)
    monitor.watch(kind.name, consumer.child.pid)
    try:
        consumer.wait_assigned()
        consumer.warm_up(pool, warmup)
        yield consumer
    finally:
        monitor.unwatch(kind.name)
        consumer.stop()


def _run_one(
    stack: BenchStack,
    store: FeatureStore,
    pool: EntityPool,
    kind: ConsumerKind,
    count: int,
    round_no: int,
    config: IngestConfig,
    monitor: MemoryMonitor,
) -> IngestRun:
    with started_consumer(stack, pool, kind, config.warmup_events, monitor) as consumer:
        settings = consumer.settings
        assignments = consumer.assignment_count()
        base = consumer.counted()
        pids = {**stack.service_pids(), kind.name: consumer.child.pid}
        stages = consumer.stages() if kind.metric == PROCESSED else {}
        log = StreamLog()
        cpu = CpuSnapshot.take(pids, {"bench": os.getpid()})
        started = time.monotonic()
        pumped = _produce(consumer, measured_stream(pool, count, log))
        errors = [] if pumped.report.ok else [f"producer: {pumped.report.summary()}"]
        capped = kind.name == push_per_event().name
        limit = config.naive_seconds if capped else max(300.0, count * config.min_seconds_per_event)
        done, finished = _wait_counted(consumer, base, count, started + limit)
        cores = CpuSnapshot.take(pids, {"bench": os.getpid()}).cores_since(cpu)
        if stages:
            stages = stage_figures(stages, consumer.stages(), finished - started, kind.workers)
        if done < count and not capped:
            errors.append(f"only {done:,} of {count:,} events counted after {limit:.0f} s")
        run = IngestRun(
            consumer=kind.name,
            round=round_no,
            events=count,
            done=done,
            seconds=finished - started,
            events_per_s=done / (finished - started),
            produce_events_per_s=count / pumped.elapsed,
            capped=capped and done < count,
            counter=done,
            offline_rows=None,
            online_checked=0,
            online_matched=0,
            rebalances=consumer.assignment_count() - assignments,
            cores=cores,
            stages=stages,
            errors=errors,
        )
        if kind.metric == PROCESSED:
            _verify_offline(run, settings, log, started)
        if done >= count and kind.stores != "nowhere":
            check = check_online(store, sample_newest(log.newest, config.sample_per_view))
            run.online_checked, run.online_matched = check.checked, check.matched
            if not check.ok:
                run.errors.append(
                    f"online sample: {check.matched} of {check.checked} entities hold their "
                    f"newest value ({'; '.join(check.mismatches)})"
                )
        return run


def one_worker_run(
    stack: BenchStack,
    store: FeatureStore,
    pool: EntityPool,
    config: IngestConfig,
    count: int,
    monitor: MemoryMonitor,
) -> IngestRun:
    """One processor-1w run of `count` events, timed and verified as in the rounds."""
    return _run_one(stack, store, pool, processor(1), count, 1, config, monitor)


def profile_processor(
    stack: BenchStack, pool: EntityPool, config: IngestConfig, monitor: MemoryMonitor
) -> Profile:
    """One more processor-1w run under py-spy (its figures are not reported: py-spy costs)."""
    kind = processor(1)
    with started_consumer(stack, pool, kind, config.warmup_events, monitor) as consumer:
        base = consumer.counted()
        out = stack.root / "profile-processor.txt"
        with profiled(consumer.child.pid, kind.name, out) as profile:
            _produce(consumer, measured_stream(pool, config.events, StreamLog()))
            limit = time.monotonic() + max(300.0, config.events * config.min_seconds_per_event)
            _wait_counted(consumer, base, config.events, limit)
    return profile


def _produce(consumer: RunningConsumer, events: Iterator[UpdateEvent]) -> PumpResult:
    """Every event to Kafka as fast as the (warmed-up) producer goes, delivery confirmed."""
    return pump(consumer.producer, events, flush_timeout=_FLUSH_TIMEOUT_S)


def _wait_counted(
    consumer: RunningConsumer, base: float, count: int, deadline: float
) -> tuple[int, float]:
    """(events counted, when) once the counter reaches `count` or the deadline passes."""
    while True:
        consumer.child.check_running()
        done = int(consumer.counted() - base)
        now = time.monotonic()
        if done >= count:
            return count, now
        if now >= deadline:
            return done, now
        time.sleep(_POLL_S)


def _verify_offline(run: IngestRun, settings: Settings, log: StreamLog, started: float) -> None:
    """The run's rows per table must equal its events per view.

    After a rebalance the counter includes redelivered events and may reach K early: then the
    run lasts until the rows are all there.
    """
    assert log.id_prefix is not None
    expected = dict(log.per_view)
    deadline = time.monotonic() + _OFFLINE_SETTLE_S
    while True:
        counts = offline_counts(settings, log.id_prefix, sorted(expected))
        if counts == expected or time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    run.offline_rows = {v: [counts[v], expected[v]] for v in sorted(expected)}
    if counts != expected:
        run.errors.append(f"offline rows {counts}, expected {expected}")
    elif run.rebalances and run.done >= run.events:
        run.seconds = time.monotonic() - started
        run.events_per_s = run.events / run.seconds
