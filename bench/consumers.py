"""The Kafka consumers the ingestion benchmark compares, run as child processes."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.events import warmup_stream
from bench.procs import ChildProcess, child_env, scrape, scrape_samples
from core.settings import Settings
from producers.entities import EntityPool
from producers.producer import EventProducer
from producers.pump import pump

PROCESSED = "credit_stream_events_processed_total"  # the processor: written to both stores
PUSHED = "bench_agent_events_pushed_total"  # a baseline agent: pushed online
READY_TIMEOUT_S = 120.0
_STAGE_SAMPLES = {
    "credit_stream_batch_size_sum",
    "credit_stream_batch_size_count",
    "credit_stream_write_seconds_sum",
    "credit_stream_write_seconds_count",
    "credit_stream_freshness_ms_bucket",
}

# faust logs one line per assignment; a supervisor's workers tag theirs `[worker-i]`.
_ASSIGNED = re.compile(r"(?:\[([\w-]+)\] )?[\w.]+: assigned (\d+) partitions")


@dataclass(frozen=True)
class ConsumerKind:
    """One way of moving the events from Kafka into the stores."""

    name: str
    description: str
    stores: str
    workers: int
    metric: str
    args: tuple[str, ...]

    def partitions(self, settings: Settings) -> int:
        """Partitions its group reads: the processor also reads the decision topic (empty
        here, as deployed); the baselines read the update topics only."""
        from core.topics import consumed_topics, view_topics

        topics = consumed_topics(settings) if self.metric == PROCESSED else view_topics(settings)
        return len(topics) * settings.topic_partitions

    def command(self) -> list[str]:
        if self.metric == PROCESSED:
            return [sys.executable, "-m", "stream_processor", "--workers", str(self.workers)]
        return [sys.executable, "-m", "bench.push_agent", *self.args]


def processor(workers: int) -> ConsumerKind:
    return ConsumerKind(
        name=f"processor-{workers}w",
        description=f"stream processor, {workers} worker process{'es' if workers > 1 else ''} "
        "(validate, micro-batch, Feast online write + Postgres COPY)",
        stores="Redis + Postgres",
        workers=workers,
        metric=PROCESSED,
        args=(),
    )


def push_per_event() -> ConsumerKind:
    return ConsumerKind(
        name="push-per-event",
        description="baseline (a): faust agent, validate, `store.push(..., to=ONLINE)` per event",
        stores="Redis only",
        workers=1,
        metric=PUSHED,
        args=("--mode", "per-event"),
    )


def push_batch(rows: int) -> ConsumerKind:
    return ConsumerKind(
        name=f"push-batch-{rows}",
        description=f"baseline (b): faust agent, validate, `store.push(..., to=ONLINE)` per view "
        f"per batch of up to {rows} events",
        stores="Redis only",
        workers=1,
        metric=PUSHED,
        args=("--mode", "batch", "--batch-rows", str(rows)),
    )


def consume_only(rows: int) -> ConsumerKind:
    return ConsumerKind(
        name="consume-only",
        description=f"ceiling: faust agent, batches of up to {rows}, validate, no store write",
        stores="nowhere",
        workers=1,
        metric=PUSHED,
        args=("--mode", "none", "--batch-rows", str(rows)),
    )


class RunningConsumer:
    """A started consumer: its process group, readiness, and its progress counter."""

    def __init__(self, kind: ConsumerKind, settings: Settings, log_dir: Path) -> None:
        self.kind = kind
        self.settings = settings
        log_path = log_dir / f"{settings.consumer_group}.log"
        self.child = ChildProcess(kind.name, kind.command(), child_env(settings), log_path)
        # One producer for the warm-up and the measured events: its connection, metadata and
        # idempotent-producer id (about a second on Tansu) are set up before the clock starts.
        self.producer = EventProducer(settings)

    def assignments(self) -> dict[str, int]:
        """The latest partition count each worker logged."""
        latest: dict[str, int] = {}
        for match in _ASSIGNED.finditer(self.child.log_text()):
            latest[match.group(1) or "worker"] = int(match.group(2))
        return latest

    def assignment_count(self) -> int:
        return len(_ASSIGNED.findall(self.child.log_text()))

    def wait_assigned(self) -> None:
        """Until every worker has joined and the group holds all its partitions."""
        partitions = self.kind.partitions(self.settings)

        def settled() -> bool:
            latest = self.assignments()
            return (
                len(latest) == self.kind.workers
                and all(latest.values())
                and sum(latest.values()) == partitions
            )

        self.child.wait_until(settled, READY_TIMEOUT_S, f"{partitions} partitions assigned")

    def warm_up(self, pool: EntityPool, count: int) -> None:
        """Events before the clock starts: Feast's first write, connections, a settled group."""
        pump(self.producer, warmup_stream(pool, max(count, 1)), flush_timeout=120)
        self.child.wait_until(
            lambda: self.counted() >= max(count, 1),
            READY_TIMEOUT_S,
            f"{count} warm-up events written",
        )

    def counted(self) -> float:
        """Events the consumer reports done, summed over its workers."""
        port = self.settings.metrics_port
        return sum(scrape(port + i, self.kind.metric) for i in range(self.kind.workers))

    def stages(self) -> dict[str, float]:
        """The processor's own cumulative batch figures, summed over its workers."""
        totals: dict[str, float] = {}
        for i in range(self.kind.workers):
            for name, labels, value in scrape_samples(self.settings.metrics_port + i):
                if name in _STAGE_SAMPLES:
                    label = labels.get("store") or labels.get("le")
                    key = name + (f"{{{label}}}" if label else "")
                    totals[key] = totals.get(key, 0.0) + value
        return totals

    def stop(self) -> None:
        self.producer.close()
        self.child.stop()
