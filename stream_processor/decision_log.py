"""The decision log's consumer: records from the `loan-decisions` topic into Postgres.

A batch is appended in one transaction, idempotently (core/decision_log.py), and only then
acked, so a worker killed mid-batch leaves its offsets uncommitted and the next owner of the
partition appends the same records again without doubling them. Postgres down or hung: the
batch is retried until it is written (one log line when the outage starts and ends, the
`credit_stream_store_up{store="decision_log"}` gauge). A message that is not a decision record
goes to the dead-letter topic with its reason; the log goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from core.decision_log import BadDecisionRecord, DecisionLogStore, decode
from core.settings import Settings
from stream_processor.dead_letter_sender import DeadLetterSender, DeadLetterSink
from stream_processor.metrics import ProcessorMetrics
from stream_processor.records import DeadLetter, SourceRecord
from stream_processor.retry import OutageTracker, retry_until_done
from stream_processor.writers import OFFLINE_TRANSIENT, PostgresThread

log = logging.getLogger(__name__)


class DecisionLogAppender:
    """Appends batches of decision records; dead-letters what is not one."""

    def __init__(
        self,
        settings: Settings,
        dead_letters: DeadLetterSink,
        metrics: ProcessorMetrics,
    ) -> None:
        self._postgres = PostgresThread(
            DecisionLogStore(settings), settings.store_timeout_seconds, "decision-log"
        )
        self._dead_letters = DeadLetterSender(dead_letters, metrics)
        self._metrics = metrics
        self.outage = OutageTracker(
            "decision log (Postgres)",
            settings.postgres_url_masked,
            OFFLINE_TRANSIENT,
            metrics.store_state("decision_log"),
        )

    async def prepare(self) -> None:
        """Create the table if missing (a worker may start before `init`)."""
        await retry_until_done(
            lambda: self._postgres.run(lambda store: store.create_table()), self.outage
        )

    async def write(self, batch: Sequence[SourceRecord]) -> int:
        """Append the batch's records; returns how many were new. Returns only once every
        record is in Postgres or on the dead-letter topic."""
        records, bad = [], []
        for source in batch:
            try:
                records.append(decode(source.value))
            except BadDecisionRecord as exc:
                # The reason names fields, never values: a record holds a dob_ssn.
                bad.append(DeadLetter(source, f"not a decision record: {exc}"))
        if bad:
            await self._dead_letters.send(bad)
            log.warning(
                "%d messages on the decision topic were not decision records; dead-lettered "
                "(first: %s)",
                len(bad),
                bad[0].reason,
            )
        inserted = await retry_until_done(
            lambda: self._postgres.run(lambda store: store.append(records)), self.outage
        )
        self._metrics.decisions_logged.inc(inserted)
        return inserted
