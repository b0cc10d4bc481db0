"""The faust wiring: an app whose one agent moves micro-batches from Kafka into the stores."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import faust
from faust.transport.consumer import Consumer
from faust.types import TP, ConsumerT, EventT, TransportT

from core.errors import ConfigurationError
from core.settings import Settings
from core.topics import view_topics
from stream_processor import kafka
from stream_processor.errors import StreamProcessorError
from stream_processor.progress import (
    AdaptiveFetchWait,
    Partition,
    StallDetector,
    lag,
)
from stream_processor.runtime import WorkerRuntime, source_record
from stream_processor.shutdown import EXIT_MARGIN_SECONDS, arm_exit_deadline
from stream_processor.store_writers import StoreWriters

log = logging.getLogger(__name__)

# faust's default; a test or an operator may lengthen it (`process --commit-interval`).
DEFAULT_COMMIT_INTERVAL_SECONDS = 2.8
SUMMARY_INTERVAL_SECONDS = 10.0
PROGRESS_INTERVAL_SECONDS = 2.0


class CreditStreamApp(faust.App):
    """faust.App with the corrected aiokafka transport and a bounded wait for the open batch."""

    # faust's own logger, not this module's: its service chatter stays at the "faust" level.
    logger = logging.getLogger("faust.app.credit")
    fetch_max_wait_ms: int = 500
    # How long shutdown or a rebalance waits for the batch in flight (a store may be down).
    shutdown_grace_seconds: float = 15.0
    runtime: WorkerRuntime

    async def on_stop(self) -> None:
        log.info("stopping: finishing the batch in flight, then committing its offsets")
        # Whatever a store or the broker does from here on, the process is gone in bounded time.
        arm_exit_deadline(self.shutdown_grace_seconds + EXIT_MARGIN_SECONDS)
        await super().on_stop()  # faust waits for every fetched event to be acked, commits
        line = self.runtime.metrics.summary()
        log.info("stopped%s", f"; since the last summary: {line}" if line else "")

    def _create_directories(self) -> None:
        # faust creates only the last level of its data dir; the state dir may not exist yet.
        self.conf.datadir.mkdir(parents=True, exist_ok=True)
        super()._create_directories()

    def _new_transport(self) -> TransportT:
        return kafka.Transport(self.conf.broker_consumer, self)

    async def _consumer_wait_empty(self, consumer: ConsumerT, logger: Any) -> None:
        # faust waits for every fetched event to be acked, i.e. for the batch in flight to be
        # written and acked, then commits. During a store outage that wait is bounded: the
        # batch stays uncommitted and is redelivered to whoever owns the partition next.
        # Not asyncio.wait_for: it would wait for the cancelled wait to end, and faust's
        # wait_empty outlives a cancellation while events are unacked.
        waiting = asyncio.ensure_future(super()._consumer_wait_empty(consumer, logger))
        done, _ = await asyncio.wait({waiting}, timeout=self.shutdown_grace_seconds)
        if waiting in done:
            waiting.result()
            return
        waiting.cancel()
        log.warning(
            "batch in flight not written within %.0f s; its events stay uncommitted and "
            "will be redelivered",
            self.shutdown_grace_seconds,
        )
        await cast(Consumer, consumer).commit_and_end_transactions()


@dataclass(frozen=True)
class Offsets:
    """Per assigned partition: the broker's end (from fetch answers) and the fetch position."""

    ends: dict[Partition, int]
    positions: dict[Partition, int]


async def fetch_offsets(consumer: ConsumerT) -> Offsets:
    """Where the fetcher is and where the log ends, without asking the broker anything: the
    end comes with every fetch answer (exact, unlike Tansu's ListOffsets, and free)."""
    ends: dict[Partition, int] = {}
    positions: dict[Partition, int] = {}
    for tp in consumer.assignment():
        end = consumer.highwater(tp)
        position = await consumer.position(tp)
        if end is not None and position is not None:
            ends[(tp.topic, tp.partition)] = end
            positions[(tp.topic, tp.partition)] = position
    return Offsets(ends, positions)


def faust_overrides(settings: Settings) -> dict[str, Any]:
    """`CREDIT_FAUST_SETTINGS`, checked: faust itself ignores a misspelt setting silently."""
    from faust.types.settings import Settings as FaustSettings

    unknown = sorted(name for name in settings.faust_settings if not hasattr(FaustSettings, name))
    if unknown:
        raise ConfigurationError(
            f"CREDIT_FAUST_SETTINGS names {unknown}, which are not faust settings "
            "(see faust's Settings reference)"
        )
    return settings.faust_settings


def app_options(settings: Settings, commit_interval: float | None = None) -> dict[str, Any]:
    """faust settings of a worker on the update topics (the bench's baselines use them too)."""
    return {
        "broker": f"kafka://{settings.kafka_bootstrap_servers}",
        "autodiscover": False,
        # Tansu dies on exactly_once (no idempotent producer); writes are idempotent instead.
        "processing_guarantee": "at_least_once",
        # Group joins wait half the session timeout on Tansu: keep it short.
        "broker_session_timeout": 6.0,
        "broker_heartbeat_interval": 1.0,
        "broker_commit_interval": commit_interval or DEFAULT_COMMIT_INTERVAL_SECONDS,
        "consumer_auto_offset_reset": "earliest",
        # Events buffered per partition ahead of the agent (faust's default is 4096): the
        # processor took 9-13% more events/s with 16384, 0.80x faust consuming alone against
        # 0.69-0.70x (BENCHMARKS.md, "faust settings").
        "stream_buffer_maxsize": 16_384,
        # No web server (it would bind 0.0.0.0:6066); metrics have their own port.
        "web_enabled": False,
        # No tables, no leader topic: nothing but the view topics and the dead-letter topic.
        "topic_disable_leader": True,
        "topic_partitions": settings.topic_partitions,
        "datadir": str(settings.state_path / "faust" / settings.consumer_group),
        **faust_overrides(settings),
    }


def update_topics(app: faust.App, settings: Settings) -> faust.TopicT:
    """The view topics as one faust source of raw bytes."""
    return raw_topics(app, settings, *view_topics(settings))


def raw_topics(app: faust.App, settings: Settings, *names: str) -> faust.TopicT:
    """`names` as one faust source of raw bytes (the handlers decode and validate)."""
    return app.topic(
        *names,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )


def add_decision_log_agent(
    app: CreditStreamApp, settings: Settings, runtime: WorkerRuntime, within: float
) -> None:
    """An agent appending the decision topic's records to Postgres, acking after the write."""
    source = raw_topics(app, settings, settings.decision_topic)

    @app.agent(source, name="credit-decision-log")
    async def log_decisions(stream: faust.StreamT[bytes]) -> None:
        try:
            appender = await runtime.decision_log()
            batches = cast(faust.Stream[bytes], stream).noack_take(settings.batch_max_size, within)
            async for taken in batches:
                events = cast(Sequence[EventT[bytes]], taken)
                await appender.write([source_record(event.message) for event in events])
                for event in events:
                    await stream.ack(event)  # only now may faust commit their offsets
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("decision log consumer failed; stopping the worker")
            await app.crash(exc)


def build_app(settings: Settings, *, commit_interval: float | None = None) -> CreditStreamApp:
    """The stream processor as a faust app (id = consumer group) for `settings`."""
    app = CreditStreamApp(settings.consumer_group, **app_options(settings, commit_interval))
    app.fetch_max_wait_ms = settings.kafka_fetch_max_wait_ms
    app.shutdown_grace_seconds = settings.shutdown_grace_seconds
    source = update_topics(app, settings)
    dead_letter_topic = app.topic(
        settings.dead_letter_topic,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )
    runtime = WorkerRuntime(app, settings, dead_letter_topic)
    app.runtime = runtime
    # faust waits for `within` only when it is truthy; 0 would mean "wait for a full batch".
    within = max(settings.batch_max_wait_ms, 1) / 1000

    @app.agent(source, name="credit-stream-processor")
    async def process(stream: faust.StreamT[bytes]) -> None:
        try:
            await consume(stream)
        except asyncio.CancelledError:
            raise
        except StreamProcessorError as exc:
            log.error("stream processor cannot run: %s", exc)
            await app.crash(exc)
        except Exception as exc:
            # A bug, not an outage (those are retried): stop the worker rather than leave a
            # live process that consumes nothing; its events stay uncommitted.
            log.exception("stream processor failed; stopping the worker")
            await app.crash(exc)

    async def consume(stream: faust.StreamT[bytes]) -> None:
        processor = await runtime.processor()

        async def ack(events: Sequence[EventT[bytes]]) -> None:
            for event in events:
                await stream.ack(event)  # faust commits acked offsets

        writers: StoreWriters[EventT[bytes]] = StoreWriters(
            processor,
            lambda event: source_record(event.message),
            ack,
            settings.batch_max_size,
            settings.max_batches_in_flight,
            runtime.metrics.batches_in_flight.set,
        )
        writers.start()
        runtime.writer = writers.intake
        try:
            # noack_take: faust never acks these events itself (take() acks a batch when the
            # generator resumes or closes, even after an error).
            batches = cast(faust.Stream[bytes], stream).noack_take(settings.batch_max_size, within)
            async for events in batches:
                # noack_take yields the events themselves (its annotation says values).
                await writers.submit(cast(Sequence[EventT[bytes]], events))
        finally:
            writers.cancel()

    if settings.decision_log:
        add_decision_log_agent(app, settings, runtime, within)

    @app.timer(SUMMARY_INTERVAL_SECONDS)  # type: ignore[untyped-decorator]
    async def log_summary() -> None:
        line = runtime.metrics.summary()
        if line:
            log.info("%s", line)

    stall = StallDetector(settings.stall_seconds, runtime.metrics.stalled.set)
    fetch_wait = AdaptiveFetchWait(
        settings.kafka_fetch_max_wait_ms,
        max(settings.kafka_fetch_max_wait_cap_ms, settings.kafka_fetch_max_wait_ms),
        on_change=lambda ms: cast(kafka.Consumer, app.consumer).set_fetch_max_wait(ms),
    )
    runtime.metrics.fetch_wait_ms.set(fetch_wait.wait_ms)

    @app.timer(PROGRESS_INTERVAL_SECONDS)  # type: ignore[untyped-decorator]
    async def watch_progress() -> None:
        processor, writer = runtime.ready, runtime.writer
        if processor is None or writer is None:
            return
        try:
            offsets = await asyncio.wait_for(
                fetch_offsets(app.consumer), settings.store_timeout_seconds
            )
        except Exception as exc:  # noqa: BLE001 - the consumer may be rebalancing; next tick
            log.debug("offsets unknown: %s", exc)
            return
        # What is written, or for a partition with nothing written yet, where fetching is.
        total = lag(offsets.ends, {**offsets.positions, **processor.written.next})
        runtime.metrics.lag.set(total)
        stall.observe(total, processor.written.batches)
        fetch_wait.look(total, processor.written.events, writer.busy_seconds, time.monotonic())
        runtime.metrics.fetch_wait_ms.set(fetch_wait.wait_ms)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust stubs: any handler
    async def on_assigned(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        assigned: set[TP] = args[0] if args else kwargs.get("assigned", set())
        if runtime.ready is not None:
            runtime.ready.written.forget(assigned)  # faust resumes them from committed offsets
        parts = sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned)
        log.info("assigned %d partitions: %s", len(parts), ", ".join(parts) or "none")

    return app
