"""Publishing every decision to the decision-log topic, without waiting for the broker.

Policy (docs/decisions.md): a decision is answered once its record is in this process's
bounded publish buffer; librdkafka delivers it in the background and retries for as long as
the broker is away (no delivery timeout). When the buffer is full, because the broker has been
unreachable for a while, the API refuses new decisions with 503 `decision_log_unavailable`: a
decision that cannot be recorded is not made. What the buffer holds is lost only if the process
itself dies before the broker comes back; a graceful stop waits for it (up to the grace time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from core import decision_log
from core.kafka_clients import client_config
from core.settings import Settings
from scoring_api.core.errors import ApiError
from scoring_api.service.metrics import ApiMetrics
from scoring_api.service.scoring import Decision

log = logging.getLogger(__name__)

_POLL_INTERVAL_S = 0.05
# Records waiting this long with no delivery at all: the broker is away (refusing, or hung
# and silent, which raises no client error for the length of a request timeout).
OUTAGE_AFTER_S = 5.0


class DecisionLogUnavailable(ApiError):
    """The decision cannot be recorded (the broker is away and the buffer is full)."""

    status_code = 503
    code = "decision_log_unavailable"


def decision_record(
    decision: Decision, application: dict[str, Any], request_id: str, decision_id: str
) -> dict[str, Any]:
    """The log record of a decision (core/decision_log.py has the format)."""
    explanation = decision.explanation
    return {
        "record_version": decision_log.RECORD_VERSION,
        "request_id": request_id,
        "decision_id": decision_id,
        "decided_at": decision.decided_at.isoformat(),
        "model_version": decision.model_version,
        "application": application,
        "features": {
            view: {
                "status": reading.status.value,
                "event_timestamp": reading.event_timestamp.isoformat()
                if reading.event_timestamp
                else None,
                "older_than_ttl": reading.older_than_ttl,
                "values": reading.values,
            }
            for view, reading in decision.readings.items()
        },
        "p_default": decision.p_default,
        "margin": explanation.margin,
        "base_margin": explanation.base_margin,
        "threshold": decision.threshold,
        "decision": "approved" if decision.approved else "rejected",
        "reasons": [
            {
                "feature": r.feature,
                "view": r.view,
                "value": r.value,
                "contribution": r.contribution,
                "phrase": r.phrase,
            }
            for r in explanation.reasons
        ],
        "warnings": decision.warnings,
    }


class UnloggedDecisions:
    """CREDIT_DECISION_LOG=false: decisions are counted, and recorded nowhere."""

    def __init__(self, metrics: ApiMetrics) -> None:
        self._metrics = metrics

    def publish(self, decision: Decision, application: dict[str, Any], request_id: str) -> None:
        self._metrics.decided(decision.approved)

    async def close(self) -> None:
        return None


class DecisionPublisher:
    """A librdkafka producer whose local queue is the bounded buffer of the policy above.
    Metrics: decisions answered, records delivered/refused/failed, records waiting, and
    `credit_api_store_up{store="decision_log"}` (0 from the outage's start line to its end)."""

    def __init__(self, settings: Settings, metrics: ApiMetrics | None = None) -> None:
        self.topic = settings.decision_topic
        self.address = settings.kafka_bootstrap_servers
        self.capacity = settings.decision_log_buffer
        self._grace_s = settings.shutdown_grace_seconds
        self._producer = Producer(
            {
                **client_config(settings, "decision-log"),
                "queue.buffering.max.messages": self.capacity,
                "queue.buffering.max.kbytes": 1_048_576,  # the message count bounds it first
                # Batches of ~10 records at 200 decisions/s instead of one each: with 5 ms the
                # API did 18% fewer requests/s closed loop than with the log off, with 50 ms
                # 5% (bench scoring, BENCHMARKS.md). A record reaches the log 50 ms later.
                "linger.ms": 50,
                "message.timeout.ms": 0,  # retry until delivered, however long the broker is away
                "acks": "all",
            }
        )
        self.delivered = 0
        self.failed = 0
        self.refused = 0
        self._metrics = metrics or ApiMetrics()
        self._broker_up = self._metrics.store_state("decision_log")
        self._waiting_shown = 0
        self._down_since: float | None = None
        # Last delivery, or when records started waiting after none were.
        self._progress_at = time.monotonic()
        self._was_empty = True
        self._refusing = False
        self._poller: asyncio.Task[None] | None = None

    # -- the request path ------------------------------------------------------------------

    def publish(self, decision: Decision, application: dict[str, Any], request_id: str) -> None:
        """Queue the decision's record; DecisionLogUnavailable when the buffer is full."""
        record = decision_record(decision, application, request_id, uuid.uuid4().hex)
        try:
            self._producer.produce(
                self.topic,
                decision_log.encode(record),
                request_id.encode(),
                on_delivery=self._on_delivery,
            )
        except BufferError:
            self.refused += 1
            self._metrics.records["refused"].inc()
            if not self._refusing:
                self._refusing = True
                log.error(
                    "decision log buffer full (%d decisions waiting for the broker at %s): "
                    "refusing decisions with 503 until it drains",
                    len(self._producer),
                    self.address,
                )
            raise DecisionLogUnavailable(
                "the decision cannot be recorded now (the decision log's broker is "
                "unreachable and this worker's buffer is full); no decision was made. Retry "
                "later."
            ) from None
        self._metrics.decided(decision.approved)
        if self._refusing:
            self._refusing = False
            log.warning("decision log buffer has room again: decisions resumed")

    @property
    def buffered(self) -> int:
        """Records not yet acknowledged by the broker."""
        return len(self._producer)

    @property
    def broker_down(self) -> bool:
        return self._down_since is not None

    # -- background ------------------------------------------------------------------------

    def start(self) -> None:
        self._poller = asyncio.create_task(self._poll_forever(), name="decision-log-poller")

    async def _poll_forever(self) -> None:
        while True:
            self._producer.poll(0)  # serves delivery reports; never blocks
            self.watch(time.monotonic())
            await asyncio.sleep(_POLL_INTERVAL_S)

    def watch(self, now: float) -> None:
        """Start an outage when records have waited OUTAGE_AFTER_S with nothing delivered."""
        waiting = len(self._producer)
        self._show_waiting(waiting)
        if waiting and self._was_empty:
            self._progress_at = now
        self._was_empty = waiting == 0
        if waiting and self._down_since is None and now - self._progress_at >= OUTAGE_AFTER_S:
            self._down_since = now
            self._broker_up(False)
            log.warning(
                "decision log: nothing delivered to the broker at %s for %.0f s; buffering "
                "decisions (%d waiting, room for %d)",
                self.address,
                now - self._progress_at,
                waiting,
                self.capacity,
            )

    def _show_waiting(self, waiting: int) -> None:
        if waiting != self._waiting_shown:  # a gauge write only when the backlog changed
            self._waiting_shown = waiting
            self._metrics.decision_log_waiting.set(waiting)

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.delivered += 1
            self._metrics.records["delivered"].inc()
            self._progress_at = time.monotonic()
            if self._down_since is not None:
                log.warning(
                    "decision log: broker at %s delivering again after %.0f s; %d decisions "
                    "still to deliver",
                    self.address,
                    time.monotonic() - self._down_since,
                    len(self._producer),
                )
                self._down_since = None
                self._broker_up(True)
            return
        # No delivery timeout: only a permanent error (e.g. a record over the broker's limit,
        # the topic deleted) ends here. The request id is not sensitive; the record is.
        self.failed += 1
        self._metrics.records["failed"].inc()
        key = message.key()
        log.error(
            "decision log: record of request %s not delivered: %s",
            key.decode(errors="replace") if key else "?",
            error.str(),
        )

    async def close(self) -> None:
        """Deliver what is buffered (at most the shutdown grace time), then stop polling."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        left = await asyncio.to_thread(self._producer.flush, self._grace_s)
        self._show_waiting(left)
        if left:
            log.error(
                "decision log: %d decisions answered but not delivered to %s within %.0f s; "
                "they are not recorded",
                left,
                self.address,
                self._grace_s,
            )
