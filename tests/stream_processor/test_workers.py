"""Scaling and stopping: two workers split the partitions of one group; SIGTERM finishes the
batch in flight, commits only what is written, exits 0, and a restart loses nothing."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.contract import CREDIT_HISTORY
from core.events import topic_name
from core.topics import consumed_topics

pytestmark = pytest.mark.integration


def test_two_workers_share_the_partitions_and_process_every_event(harness: Any) -> None:
    h = harness
    supervisor = h.start("--workers", "2")
    # Both children joined: the group rebalanced to half of the partitions each.
    half = len(consumed_topics(h.settings)) * h.settings.topic_partitions // 2
    h.wait_until(
        lambda: supervisor.log.count(f"assigned {half} partitions") >= 2,
        90,
        "both workers assigned",
    )
    assert "[worker-0]" in supervisor.log and "[worker-1]" in supervisor.log
    people = [h.keys.dob_ssn() for _ in range(400)]
    events = [h.credit(k, 9) for k in people]
    h.kafka.publish(events)
    h.wait_offline(events)
    h.wait_until(
        lambda: h.stores.online_due(people) == dict.fromkeys(people, 9), 30, "values online"
    )
    ids = [e.event_id for e in events]
    assert sorted(h.stores.offline_ids(CREDIT_HISTORY, ids)) == sorted(ids)
    ports = (h.settings.metrics_port, h.settings.metrics_port + 1)
    per_worker = [
        supervisor.metric_at(port, "credit_stream_events_processed_total", view="credit_history")
        for port in ports
    ]
    assert all(count > 0 for count in per_worker), per_worker
    assert sum(per_worker) >= len(events)

    supervisor.signal(signal.SIGTERM)  # forwarded to both workers
    assert supervisor.wait(60) == 0
    assert supervisor.log.count("exited with code") == 0


def test_sigterm_mid_stream_commits_only_written_events_and_exits_0(
    harness_factory: Callable[..., Any], tmp_path: Path
) -> None:
    # Small batches so that SIGTERM lands while many are still to come.
    h = harness_factory(tmp_path, batch_max_size=200)
    try:
        first = h.start()
        first.wait_ready()
        events = [h.credit(h.keys.dob_ssn(), 10) for _ in range(20_000)]
        h.kafka.publish(events)
        ids = [e.event_id for e in events]
        h.wait_until(
            lambda: len(h.stores.offline_ids(CREDIT_HISTORY, ids[:2000])) > 100,
            60,
            "processing to start",
        )
        first.signal(signal.SIGTERM)
        assert first.wait(30) == 0
        assert "not written within" not in first.log  # the batch in flight was finished

        # Every event below a committed offset is in the store: nothing committed unwritten.
        topic = topic_name(CREDIT_HISTORY, h.settings.topic_prefix)
        committed = h.kafka.committed()
        by_position = {(m.partition(), m.offset()): m for m in h.kafka.read_all(topic, len(events))}
        below = [
            m.value()
            for (partition, offset), m in by_position.items()
            if offset < committed.get((topic, partition), -1)
        ]
        assert below, "the worker committed nothing before stopping"
        by_value = {e.encode(): e.event_id for e in events}
        committed_ids = [by_value[v] for v in below]
        written = set(h.stores.offline_ids(CREDIT_HISTORY, committed_ids))
        assert written == set(committed_ids)
        assert len(written) < len(events), "SIGTERM came too late to test anything"

        second = h.start()
        h.wait_offline(events, timeout=120)
        assert sorted(h.stores.offline_ids(CREDIT_HISTORY, ids)) == sorted(ids)
        second.signal(signal.SIGTERM)
        assert second.wait(30) == 0
    finally:
        h.close()
