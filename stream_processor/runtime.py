"""Long-lived resources of one worker, built once when its agent starts."""

from __future__ import annotations

import asyncio
import gc
import logging
from datetime import timedelta
from typing import Any

import faust

from core.contract import VIEWS
from core.offline_store import PostgresOfflineWriter
from core.settings import OnlineWriterKind, Settings
from stream_processor.dead_letters import FaustDeadLetterSink
from stream_processor.decision_log import DecisionLogAppender
from stream_processor.errors import FeatureViewNotRegistered, StreamProcessorError
from stream_processor.metrics import ProcessorMetrics, metrics_port
from stream_processor.notify import RedisUpdateNotifier
from stream_processor.overlap import BatchWriterTask
from stream_processor.pipeline import BatchProcessor
from stream_processor.records import EventRouter, SourceRecord
from stream_processor.redis_writer import RedisOnlineWriter
from stream_processor.retry import OutageTracker, retry_until_done
from stream_processor.writers import (
    OFFLINE_TRANSIENT,
    FeastOnlineWriter,
    OnlineWriter,
    PostgresBatchWriter,
    check_registered,
)

log = logging.getLogger(__name__)


def source_record(message: Any) -> SourceRecord:
    """A faust ConsumerMessage as the pure handlers see it (raw bytes, position, headers)."""
    timestamp = message.timestamp
    return SourceRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=tuple(message.headers or ()),
        timestamp_ms=int(timestamp * 1000) if timestamp else None,
    )


class WorkerRuntime:
    """Metrics, Feast store, Postgres writer and dead-letter sink of one worker process."""

    def __init__(self, app: faust.App, settings: Settings, dead_letter_topic: faust.TopicT) -> None:
        self.app = app
        self.settings = settings
        self.metrics = ProcessorMetrics()
        self._dead_letter_topic = dead_letter_topic
        # One sink for both agents' letters (update events and decision records).
        self._dead_letters = FaustDeadLetterSink(
            app,
            settings.dead_letter_topic,
            settings.kafka_bootstrap_servers,
            timeout=settings.store_timeout_seconds,
        )
        self._online: OnlineWriter | None = None
        self._processor: BatchProcessor | None = None
        self._decision_log: DecisionLogAppender | None = None
        # The agent's batch writer once it runs (its idleness tells a starved fetch apart).
        self.writer: BatchWriterTask[Any] | None = None

    def preflight(self) -> None:
        """Open the stores before faust starts, so a configuration error ends the command
        with its message instead of crashing the agent (`process` calls this)."""
        asyncio.run(self._open_stores())

    async def processor(self) -> BatchProcessor:
        """The batch processor, built on first use (the agent's start)."""
        if self._processor is None:
            self._processor = await self._build()
        return self._processor

    async def decision_log(self) -> DecisionLogAppender:
        """The decision log's appender, built on first use (its agent's start)."""
        if self._decision_log is None:
            appender = DecisionLogAppender(self.settings, self._dead_letters, self.metrics)
            await appender.prepare()
            self._decision_log = appender
        return self._decision_log

    @property
    def ready(self) -> BatchProcessor | None:
        """The batch processor once built, else None."""
        return self._processor

    def _prepare_stores(self) -> OnlineWriter:
        # The tables are created if missing so a worker can start before `init`; the feature
        # views, though, must be registered (they define what the online store holds).
        from core.feast_store import PROJECT

        direct = self.settings.online_writer is OnlineWriterKind.DIRECT
        with PostgresOfflineWriter(self.settings) as writer:
            writer.create_tables()
            if direct:  # Feast's own writer resolves (and checks) its views in the registry
                check_registered(writer.registered_feature_views(PROJECT), PROJECT, VIEWS)
        # Topics get the configured partitions and the broker's replication, rather than
        # whatever faust would auto-create.
        from core.topics import ensure_topics

        ensure_topics(self.settings)
        if direct:
            return RedisOnlineWriter.open(self.settings)
        return FeastOnlineWriter.open(self.settings)

    async def _open_stores(self) -> OnlineWriter:
        if self._online is None:
            # The Feast registry lives in Postgres: wait for it as batches wait for the stores.
            tracker = OutageTracker(
                "feature registry / offline store",
                self.settings.postgres_url_masked,
                OFFLINE_TRANSIENT,
            )
            self._online = await retry_until_done(
                lambda: asyncio.to_thread(self._prepare_stores),
                tracker,
                fatal=(FeatureViewNotRegistered,),
            )
        return self._online

    def _serve_metrics(self) -> None:
        host, port = self.settings.metrics_host, metrics_port(self.settings)
        try:
            self.metrics.serve(host, port)
        except OSError as exc:
            raise StreamProcessorError(
                f"cannot serve metrics on {host}:{port} ({exc.strerror}): set "
                "CREDIT_METRICS_PORT to a free port (or 0 for no metrics endpoint) and "
                "CREDIT_METRICS_HOST to an address of this host"
            ) from exc

    async def _build(self) -> BatchProcessor:
        settings = self.settings
        self._serve_metrics()
        online = await self._open_stores()
        await self._dead_letter_topic.maybe_declare()
        notifier = None
        if settings.live_channel is not None:
            registry = self.metrics.registry
            notifier = RedisUpdateNotifier.open(settings, settings.live_channel, registry)
            notifier.start()
        processor = BatchProcessor(
            router=EventRouter(
                settings.topic_prefix,
                timedelta(seconds=settings.max_future_seconds),
                max_event_bytes=settings.max_event_bytes,
            ),
            online=online,
            offline=PostgresBatchWriter(settings),
            dead_letters=self._dead_letters,
            metrics=self.metrics,
            notifier=notifier,
        )
        # Feast, faust and pandas leave ~10^5 long-lived objects that every full collection
        # would walk again; frozen, the per-event garbage of a batch is cheap to collect
        # (the online-row build alone ran 2-3x faster).
        gc.freeze()
        log.info(
            "stream processor ready: topics %s -> online %s, offline %s (group %s, batches of "
            "at most %d events / %d ms)",
            ", ".join(sorted(processor.router.topics)),
            online.address,
            settings.postgres_url_masked,
            settings.consumer_group,
            settings.batch_max_size,
            settings.batch_max_wait_ms,
        )
        return processor
