"""A store going away mid-stream: the batch is held and retried, one log line when the outage
starts and one when it ends, then everything arrives exactly once."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.contract import CREDIT_HISTORY

pytestmark = [pytest.mark.integration, pytest.mark.local_stack_only]


@pytest.fixture(scope="module")
def running(
    harness_factory: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, Any]]:
    harness = harness_factory(Path(tmp_path_factory.mktemp("outages")))
    processor = harness.start()
    processor.wait_ready()
    yield harness, processor
    harness.start_services()  # whatever a failed test left stopped
    harness.close()


def _outage_seconds(log: str, store: str) -> float:
    """The duration the processor logged when the store came back."""
    found = re.search(rf"{store} store reachable again at \S+ after ([0-9.]+) s", log)
    assert found, log
    return float(found.group(1))


def test_redis_outage_holds_the_batch_and_resumes_by_itself(running: tuple[Any, Any]) -> None:
    h, processor = running
    address = f"{h.settings.redis_host}:{h.settings.redis_port}"
    people = [h.keys.dob_ssn() for _ in range(30)]
    events = [h.credit(k, 5) for k in people]
    h.stop_service("redis")
    try:
        h.kafka.publish(events)
        processor.wait_for_log(f"online store unreachable at {address}")
        # The offline write of the held batch is not held up by the online outage (later
        # batches wait their turn: batches are written in order).
        ids = [e.event_id for e in events]
        h.wait_until(lambda: h.stores.offline_ids(CREDIT_HISTORY, ids), 30, "offline rows")
        time.sleep(3)  # several retries, still one log line
    finally:
        h.start_services()
    processor.wait_for_log(f"online store reachable again at {address}")
    h.wait_until(
        lambda: h.stores.online_due(people) == dict.fromkeys(people, 5), 30, "values online"
    )
    assert sorted(h.stores.offline_ids(CREDIT_HISTORY, ids)) == sorted(ids)
    assert processor.log.count("online store unreachable") == 1
    assert processor.log.count("online store reachable again") == 1
    assert _outage_seconds(processor.log, "online") >= 3  # held through it, one line each way
    assert "Traceback" not in processor.log


def test_postgres_outage_holds_the_batch_and_resumes_by_itself(running: tuple[Any, Any]) -> None:
    h, processor = running
    people = [h.keys.dob_ssn() for _ in range(30)]
    events = [h.credit(k, 6) for k in people]
    h.stop_service("postgres")
    try:
        h.kafka.publish(events)
        processor.wait_for_log("offline store unreachable at postgresql://")
        time.sleep(3)
    finally:
        h.start_services()
    processor.wait_for_log("offline store reachable again")
    h.wait_offline(events)
    h.wait_until(
        lambda: h.stores.online_due(people) == dict.fromkeys(people, 6), 30, "values online"
    )
    ids = [e.event_id for e in events]
    assert sorted(h.stores.offline_ids(CREDIT_HISTORY, ids)) == sorted(ids)
    assert processor.log.count("offline store unreachable") == 1
    assert processor.log.count("offline store reachable again") == 1
    assert _outage_seconds(processor.log, "offline") >= 3
    assert "Traceback" not in processor.log
    assert h.settings.postgres_password.get_secret_value() not in processor.log


def test_a_worker_killed_before_and_after_writing_loses_and_duplicates_nothing(
    harness_factory: Callable[..., Any], tmp_path: Path
) -> None:
    h = harness_factory(tmp_path)
    try:
        # A long commit interval: what the first worker writes is not committed when it dies.
        first = h.start("--commit-interval", "120")
        first.wait_ready()
        written = [h.credit(h.keys.dob_ssn(), 7) for _ in range(30)]
        h.kafka.publish(written)
        h.wait_offline(written)
        people = [e.entity_value for e in written]
        h.wait_until(lambda: None not in h.stores.online_due(people).values(), 30, "online")
        online_before = h.stores.online(CREDIT_HISTORY, people)

        h.stop_service("redis")
        try:
            held = [h.credit(h.keys.dob_ssn(), 8) for _ in range(30)]
            h.kafka.publish(held)
            first.wait_for_log("online store unreachable")
            first.signal(signal.SIGKILL)  # consumed, not yet written online
            first.wait(10)
        finally:
            h.start_services()
        assert all(offset < 0 for offset in h.kafka.committed().values())  # nothing committed

        second = h.start()
        second.wait_ready()
        held_people = [e.entity_value for e in held]
        h.wait_until(
            lambda: h.stores.online_due(held_people) == dict.fromkeys(held_people, 8),
            60,
            "the held events online after the restart",
        )
        h.wait_until(
            lambda: (
                second.metric("credit_stream_events_processed_total", view="credit_history")
                == len(written) + len(held)
            ),
            30,
            "the restarted worker to process both sets again",
        )
        ids = [e.event_id for e in written + held]
        assert sorted(h.stores.offline_ids(CREDIT_HISTORY, ids)) == sorted(ids)
        assert h.stores.online(CREDIT_HISTORY, people) == online_before
    finally:
        h.close()


def test_online_runs_ahead_of_a_down_postgres_by_at_most_the_limit(
    harness_factory: Callable[..., Any], tmp_path: Path
) -> None:
    # One event per batch, at most 2 batches taken and not yet in both stores.
    h = harness_factory(tmp_path, batch_max_size=1, max_batches_in_flight=2)
    try:
        processor = h.start()
        processor.wait_ready()
        first = [h.credit(h.keys.dob_ssn(), 1)]
        h.kafka.publish(first)
        h.wait_offline(first)
        events = [h.credit(h.keys.dob_ssn(), 9) for _ in range(6)]
        people = [e.entity_value for e in events]
        h.stop_service("postgres")
        try:
            for event in events:
                h.kafka.publish([event])
                time.sleep(0.2)  # each its own batch
            h.wait_until(
                lambda: h.stores.online_due(people[:2]) == dict.fromkeys(people[:2], 9),
                30,
                "the first two batches online while Postgres is down",
            )
            time.sleep(3)  # room for more, if the limit did not hold
            online = h.stores.online_due(people)
            assert [online[p] for p in people] == [9, 9, None, None, None, None]
            assert processor.metric("credit_stream_batches_in_flight") == 2
            committed = sum(max(o, 0) for o in h.kafka.committed().values())
            assert committed <= len(first)  # nothing past the first event is committed
        finally:
            h.start_services()
        h.wait_offline(events)
        h.wait_until(
            lambda: h.stores.online_due(people) == dict.fromkeys(people, 9), 30, "all online"
        )
        h.wait_until(
            lambda: sum(h.kafka.committed().values()) == len(first) + len(events),
            30,
            "every offset committed once both stores hold its event",
        )
        assert processor.metric("credit_stream_batches_in_flight") == 0
        assert "Traceback" not in processor.log
    finally:
        h.close()
