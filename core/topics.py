"""Create the update, dead-letter and decision-log topics when they are missing."""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic

from core.contract import VIEWS
from core.errors import CreditPipelineError, KafkaUnreachableError
from core.events import topic_name
from core.kafka_clients import client_config
from core.settings import Settings

log = logging.getLogger(__name__)


class TopicError(CreditPipelineError):
    """The update topics could not be created or did not appear in the cluster metadata."""


# -1: the broker's default.replication.factor, so one command fits a single local broker and a
# replicated cluster alike.
BROKER_DEFAULT_REPLICATION = -1
_METADATA_POLL_S = 0.05


def topic_names(settings: Settings) -> list[str]:
    """Every topic the pipeline uses: one per feature view, the dead-letter topic and the
    decision log."""
    return [*view_topics(settings), settings.dead_letter_topic, settings.decision_topic]


def view_topics(settings: Settings) -> list[str]:
    """One update topic per feature view."""
    return [topic_name(view, settings.topic_prefix) for view in VIEWS]


def consumed_topics(settings: Settings) -> list[str]:
    """The topics the stream processor's consumer group reads: the views' and, when the
    decision log is on, the decision topic."""
    views = view_topics(settings)
    return [*views, settings.decision_topic] if settings.decision_log else views


def ensure_topics(
    settings: Settings, *, timeout: float = 30.0, names: list[str] | None = None
) -> list[str]:
    """Create the missing topics (all of `topic_names`, or `names`), wait until the metadata
    shows them all; return those created."""
    admin = AdminClient(client_config(settings, "admin"))
    deadline = time.monotonic() + timeout
    wanted = topic_names(settings) if names is None else names
    existing = _partitions(_metadata(admin, settings, timeout))
    missing = [name for name in wanted if name not in existing]
    if missing:
        _create(admin, settings, missing, timeout)
    partitions = _wait_visible(admin, settings, wanted, deadline)
    for name in wanted:
        if partitions[name] < settings.topic_partitions:
            # Never raise the count here: it would move keys to other partitions and break
            # per-entity ordering for events already on the topic.
            log.warning(
                "topic %s has %d partitions, fewer than CREDIT_TOPIC_PARTITIONS=%d: "
                "at most %d stream-processor workers will get work",
                name,
                partitions[name],
                settings.topic_partitions,
                partitions[name],
            )
    admin.poll(0)  # hand librdkafka's queued log lines to `logging`
    return missing


def _metadata(admin: AdminClient, settings: Settings, timeout: float) -> ClusterMetadata:
    try:
        return admin.list_topics(timeout=max(timeout, 0.1))
    except KafkaException as exc:
        admin.poll(0)
        raise KafkaUnreachableError(
            f"no Kafka broker answered at {settings.kafka_bootstrap_servers} "
            f"({exc.args[0].str()}): start the local stack (`credit-pipeline stack up`) or set "
            "CREDIT_KAFKA_HOST / CREDIT_KAFKA_PORT"
        ) from exc


def _partitions(metadata: ClusterMetadata) -> dict[str, int]:
    return {
        name: len(topic.partitions)
        for name, topic in metadata.topics.items()
        if topic.error is None and topic.partitions
    }


def _create(admin: AdminClient, settings: Settings, names: list[str], timeout: float) -> None:
    new = [
        NewTopic(
            name,
            num_partitions=settings.topic_partitions,
            replication_factor=BROKER_DEFAULT_REPLICATION,
        )
        for name in names
    ]
    futures = admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout)
    for name, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            # Another producer or worker may have created it since we listed: that is fine.
            if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise TopicError(f"cannot create topic {name}: {error.str()}") from exc
        log.info("created topic %s (%d partitions)", name, settings.topic_partitions)


def _wait_visible(
    admin: AdminClient, settings: Settings, names: list[str], deadline: float
) -> dict[str, int]:
    # Creation returns before every broker's metadata has the topic; producing to a topic the
    # client cannot see yet would wait or fail, so wait here once.
    while True:
        partitions = _partitions(_metadata(admin, settings, deadline - time.monotonic()))
        absent = [name for name in names if name not in partitions]
        if not absent:
            return partitions
        if time.monotonic() >= deadline:
            raise TopicError(
                f"topics {', '.join(absent)} did not appear in the metadata of "
                f"{settings.kafka_bootstrap_servers} in time"
            )
        time.sleep(_METADATA_POLL_S)
