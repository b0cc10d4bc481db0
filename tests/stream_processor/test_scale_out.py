"""Scale-out the Kafka way: three workers in one group over six partitions; one is killed
mid-stream; every event still lands once offline and the newest value of each entity online."""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.contract import CREDIT_HISTORY
from core.ports import free_port
from core.topics import consumed_topics

pytestmark = pytest.mark.integration

WORKERS = 3
PARTITIONS = 6


def test_a_killed_worker_loses_nothing_and_duplicates_nothing(
    harness_factory: Callable[..., Any], tmp_path: Path
) -> None:
    h = harness_factory(tmp_path, topic_partitions=PARTITIONS, batch_max_size=100)
    try:
        workers = [
            h.start(settings=h.settings.model_copy(update={"metrics_port": free_port()}))
            for _ in range(WORKERS)
        ]
        topics = len(consumed_topics(h.settings))
        for worker in workers:  # the group settles with a third of the partitions each
            worker.wait_ready(partitions=topics * PARTITIONS // WORKERS)

        people = [h.keys.dob_ssn() for _ in range(600)]
        start = datetime.now(UTC) - timedelta(minutes=10)
        # Five reports per person, oldest first; keyed, so each person's stay in order.
        rounds = [
            [h.credit(k, 100 * r + i, start + timedelta(seconds=r)) for i, k in enumerate(people)]
            for r in range(5)
        ]
        events = [e for batch in rounds for e in batch]
        h.kafka.publish(rounds[0] + rounds[1])
        ids = [e.event_id for e in events]
        h.wait_until(
            lambda: len(h.stores.offline_ids(CREDIT_HISTORY, ids)) > 200, 60, "processing to start"
        )
        victim = workers[0]
        victim.signal(signal.SIGKILL)  # no clean shutdown: uncommitted work must be redone
        victim.wait(10)
        h.kafka.publish(rounds[2] + rounds[3] + rounds[4])

        h.wait_offline(events, timeout=180)
        offline = h.stores.offline_ids(CREDIT_HISTORY, ids)
        assert len(offline) == len(events), "an event id appears twice or is missing offline"
        assert sorted(offline) == sorted(ids)
        expected_online = {k: 400 + i for i, k in enumerate(people)}
        h.wait_until(
            lambda: h.stores.online_due(people) == expected_online,
            60,
            "the newest value of every person online",
        )
        for worker in workers[1:]:
            worker.signal(signal.SIGTERM)
            assert worker.wait(60) == 0
    finally:
        h.close()
