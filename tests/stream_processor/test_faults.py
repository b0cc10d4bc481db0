"""The fault suite: a stream is published, a fault is injected against the real services, and
afterwards every valid event is offline exactly once, every entity's newest value is online,
the outage was logged once when it started and once when it ended, and the pipeline caught up
within a bound. Each test adds its figures to the table of docs/reliability.md
(`./run test tests/stream_processor/test_faults.py --reliability-report docs/reliability.md`).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from confluent_kafka import Producer

from core.contract import CREDIT_HISTORY
from core.events import UpdateEvent, topic_name
from core.topics import consumed_topics

pytestmark = [pytest.mark.integration, pytest.mark.local_stack_only]

# Every fault ends, and everything published is in both stores, within this many seconds.
CATCH_UP_BOUND_SECONDS = 60.0


@dataclass
class Publisher:
    """Publishes `count` credit events at `rate` per second over `entities` persons, in a
    thread; event i sets every feature of its person to i, so the newest value is known."""

    harness: Any
    count: int
    rate: float
    entities: int
    sent: list[UpdateEvent] = field(default_factory=list)
    finished_at: float | None = None
    _thread: threading.Thread | None = None
    _error: BaseException | None = None

    def start(self) -> None:
        self._keys = [self.harness.keys.dob_ssn() for _ in range(self.entities)]
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            settings = self.harness.settings
            topic = topic_name(CREDIT_HISTORY, settings.topic_prefix)
            producer = Producer(
                {
                    "bootstrap.servers": settings.kafka_bootstrap_servers,
                    "acks": "all",
                    "linger.ms": 5,
                }
            )
            started = time.monotonic()
            for i in range(self.count):
                delay = started + i / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                event = self.harness.credit(self._keys[i % self.entities], i)
                producer.produce(topic, event.encode(), key=event.key)
                producer.poll(0)
                self.sent.append(event)
            assert producer.flush(60) == 0, "the publisher could not deliver every event"
            self.finished_at = time.monotonic()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread by join()
            self._error = exc

    def wait_sent(self, fraction: float, timeout: float = 60) -> None:
        self.harness.wait_until(
            lambda: len(self.sent) >= fraction * self.count, timeout, f"{fraction:.0%} published"
        )

    def join(self) -> None:
        assert self._thread is not None
        self._thread.join(120)
        if self._error is not None:
            raise self._error
        assert self.finished_at is not None, "the publisher did not finish"

    def newest(self) -> dict[str, int]:
        """Per person, the value of the last event sent (its newest: timestamps increase)."""
        return {e.entity_value: e.row["credit_card_due"] for e in self.sent}


@dataclass
class Outcome:
    """What a fault did to a stream: the row of docs/reliability.md."""

    fault: str
    events: int
    lost_offline: int
    duplicated_offline: int
    stale_online: int
    catch_up_seconds: float


def offline_counts(h: Any, ids: list[str]) -> tuple[int, int]:
    """(rows, distinct event ids) among `ids` in the offline table."""
    table = f'"{h.settings.postgres_schema}"."{CREDIT_HISTORY.table}"'
    with (
        contextlib.closing(psycopg2.connect(**h.settings.postgres_connect_kwargs())) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(
            f"SELECT count(*), count(DISTINCT event_id) FROM {table} WHERE event_id = ANY(%s)",
            (ids,),
        )
        rows, distinct = cur.fetchone()
    return int(rows), int(distinct)


def settle(h: Any, publisher: Publisher, recovered_at: float, fault: str) -> Outcome:
    """Wait until both stores hold the whole stream; return the figures (asserted by caller)."""
    publisher.join()
    ids = [e.event_id for e in publisher.sent]
    newest = publisher.newest()
    people = list(newest)

    def caught_up() -> bool:
        rows, distinct = offline_counts(h, ids)
        return distinct == len(ids) and h.stores.online_due(people) == newest

    deadline = time.monotonic() + CATCH_UP_BOUND_SECONDS
    while not caught_up() and time.monotonic() < deadline:
        time.sleep(0.2)
    done = time.monotonic()
    rows, distinct = offline_counts(h, ids)
    online = h.stores.online_due(people)
    return Outcome(
        fault=fault,
        events=len(ids),
        lost_offline=len(ids) - distinct,
        duplicated_offline=rows - distinct,
        stale_online=sum(1 for k, v in newest.items() if online.get(k) != v),
        catch_up_seconds=round(done - max(recovered_at, publisher.finished_at or done), 1),
    )


def assert_whole(outcome: Outcome) -> None:
    assert outcome.lost_offline == 0, outcome
    assert outcome.duplicated_offline == 0, outcome
    assert outcome.stale_online == 0, outcome
    assert outcome.catch_up_seconds < CATCH_UP_BOUND_SECONDS, outcome


def logged_once(log: str, started: str, ended: str) -> None:
    assert log.count(started) == 1, (started, log[-4000:])
    assert log.count(ended) == 1, (ended, log[-4000:])
    assert log.index(started) < log.index(ended)


@pytest.fixture
def fault_harness(
    harness_factory: Callable[..., Any], tmp_path: Path
) -> Iterator[Callable[..., Any]]:
    """Harnesses with the given settings; whatever server a test stopped is started again."""
    made: list[Any] = []

    def make(**changes: Any) -> Any:
        h = harness_factory(tmp_path, **changes)
        made.append(h)
        return h

    yield make
    for h in made:
        for service in ("postgres", "redis"):
            with contextlib.suppress(Exception):
                h.signal_service(service, signal.SIGCONT)
        h.start_services()
        h.close()


def _stream(h: Any, count: int = 3000, rate: float = 250, entities: int = 300) -> Publisher:
    publisher = Publisher(h, count, rate, entities)
    publisher.start()
    publisher.wait_sent(0.3)
    return publisher


def _crash_and_restart(
    h: Any, reliability: Callable[[Outcome], None], service: str, store: str, fault: str
) -> None:
    """SIGKILL one server mid-stream (a crash: only what it made durable survives), start it
    again ~3 s later, and check the stream came through whole."""
    processor = h.start()
    processor.wait_ready()
    publisher = _stream(h)
    h.signal_service(service, signal.SIGKILL)
    processor.wait_for_log(f"{store} store unreachable")
    time.sleep(3)
    h.start_services()
    outcome = settle(h, publisher, time.monotonic(), fault)
    reliability(outcome)
    assert_whole(outcome)
    logged_once(processor.log, f"{store} store unreachable", f"{store} store reachable again")


def test_valkey_killed_and_restarted(
    fault_harness: Callable[..., Any], reliability: Callable[[Outcome], None]
) -> None:
    fault = "Valkey killed (SIGKILL), restarted after ~3 s"
    _crash_and_restart(fault_harness(), reliability, "redis", "online", fault)


def test_postgres_killed_and_restarted(
    fault_harness: Callable[..., Any], reliability: Callable[[Outcome], None]
) -> None:
    fault = "Postgres killed (SIGKILL), restarted after ~3 s"
    _crash_and_restart(fault_harness(), reliability, "postgres", "offline", fault)


def _hang_and_resume(
    h: Any, reliability: Callable[[Outcome], None], service: str, store: str, fault: str
) -> None:
    """SIGSTOP one server mid-stream for ~6 s, past several 2 s write timeouts, then SIGCONT,
    and check the outage was seen and the stream came through whole."""
    processor = h.start()
    processor.wait_ready()
    publisher = _stream(h)
    h.signal_service(service, signal.SIGSTOP)
    try:
        processor.wait_for_log(f"{store} store unreachable", timeout=30)
        assert "no answer within 2 s" in processor.log
        assert processor.metric("credit_stream_store_up", store=store) == 0
        time.sleep(4)  # the hang goes on past two more write timeouts
    finally:
        h.signal_service(service, signal.SIGCONT)
    recovered = time.monotonic()
    outcome = settle(h, publisher, recovered, fault)
    reliability(outcome)
    assert_whole(outcome)
    logged_once(processor.log, f"{store} store unreachable", f"{store} store reachable again")
    assert processor.metric("credit_stream_store_up", store=store) == 1


def test_postgres_hung_longer_than_the_write_timeout(
    fault_harness: Callable[..., Any], reliability: Callable[[Outcome], None]
) -> None:
    fault = "Postgres hung (SIGSTOP) ~6 s, write timeout 2 s"
    _hang_and_resume(
        fault_harness(store_timeout_seconds=2.0), reliability, "postgres", "offline", fault
    )


def test_valkey_hung_longer_than_the_write_timeout(
    fault_harness: Callable[..., Any], reliability: Callable[[Outcome], None]
) -> None:
    # The direct writer's pipelined script call is cancelled mid-answer: its connection must be
    # dropped and the batch written again, nothing lost, nothing older left online.
    fault = "Valkey hung (SIGSTOP) ~6 s, write timeout 2 s"
    _hang_and_resume(
        fault_harness(store_timeout_seconds=2.0), reliability, "redis", "online", fault
    )


def test_sigterm_while_postgres_hangs_exits_within_the_grace_period(
    fault_harness: Callable[..., Any],
) -> None:
    h = fault_harness(store_timeout_seconds=30.0, shutdown_grace_seconds=3.0)
    processor = h.start()
    processor.wait_ready()
    publisher = _stream(h, count=500, rate=250, entities=50)
    h.signal_service("postgres", signal.SIGSTOP)
    try:
        publisher.join()
        time.sleep(1)  # a batch is now blocked on the hung server (30 s write timeout)
        stopped = time.monotonic()
        processor.signal(signal.SIGTERM)
        code = processor.wait(30)
        took = time.monotonic() - stopped
    finally:
        h.signal_service("postgres", signal.SIGCONT)
    # The grace period (3 s), then it commits what is written, leaves the group and exits 0.
    assert code == 0, processor.log[-3000:]
    assert took < 3.0 + 3.0, (took, processor.log[-3000:])
    assert "batch in flight not written within 3 s" in processor.log
    # Nothing it had not written was committed: a new worker writes all of it.
    second = h.start()
    second.wait_ready()
    outcome = settle(h, publisher, time.monotonic(), "SIGTERM during a Postgres hang")
    assert_whole(outcome)


def test_processor_killed_mid_stream(
    fault_harness: Callable[..., Any], reliability: Callable[[Outcome], None]
) -> None:
    h = fault_harness()
    first = h.start()
    first.wait_ready()
    publisher = _stream(h)
    first.signal(signal.SIGKILL)
    first.wait(10)
    second = h.start()
    second.wait_ready()
    recovered = time.monotonic()
    outcome = settle(h, publisher, recovered, "processor killed (SIGKILL), a new one started")
    reliability(outcome)
    assert_whole(outcome)


def _shared_by_both(log: str, total: int) -> bool:
    """Whether each of two workers' latest assignment is non-empty and together they hold all
    `total` partitions (the group may rebalance more than once, and split them unevenly)."""
    latest = {
        worker: int(count)
        for worker, count in re.findall(r"\[worker-(\d+)\][^\n]*assigned (\d+) partitions", log)
    }
    return len(latest) == 2 and all(latest.values()) and sum(latest.values()) == total


def test_one_of_two_workers_killed(
    fault_harness: Callable[..., Any], reliability: Callable[[Outcome], None]
) -> None:
    h = fault_harness()
    supervisor = h.start("--workers", "2")
    total = h.settings.topic_partitions * len(consumed_topics(h.settings))
    h.wait_until(
        lambda: _shared_by_both(supervisor.log, total), 90, "both workers sharing the partitions"
    )
    publisher = _stream(h)
    pids = re.findall(r"started 2 workers in group \S+ \(pids (\d+), (\d+)\)", supervisor.log)
    os.kill(int(pids[0][1]), signal.SIGKILL)
    supervisor.wait_for_log("worker 1 was killed by SIGKILL")
    supervisor.wait_for_log("worker 1 restarted")
    h.wait_until(
        lambda: (
            supervisor.log.count("[worker-1] stream_processor.runtime: stream processor ready") == 2
        ),
        90,
        "the restarted worker to be ready",
    )
    recovered = time.monotonic()
    outcome = settle(h, publisher, recovered, "one of two workers killed (SIGKILL), restarted")
    reliability(outcome)
    assert_whole(outcome)
    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait(60) == 0, supervisor.log[-4000:]


def test_a_worker_stopped_while_joining_the_group_exits_without_finishing_the_join(
    fault_harness: Callable[..., Any],
) -> None:
    # Tansu answers a join after half the session timeout (3 s); SIGTERM lands inside that wait.
    h = fault_harness()
    processor = h.start()
    processor.wait_for_log("stream processor ready")
    processor.signal(signal.SIGTERM)
    assert processor.wait(30) == 0, processor.log[-4000:]
    assert "not waiting to join the group" in processor.log
    assert re.search(r"assigned \d+ partitions", processor.log) is None
    assert "shutdown not finished" not in processor.log


def test_an_oversized_event_is_dead_lettered_and_the_stream_goes_on(
    fault_harness: Callable[..., Any], reliability: Callable[[Outcome], None]
) -> None:
    h = fault_harness()
    processor = h.start()
    processor.wait_ready()
    publisher = _stream(h)
    topic = topic_name(CREDIT_HISTORY, h.settings.topic_prefix)
    big = Producer(
        {"bootstrap.servers": h.settings.kafka_bootstrap_servers, "message.max.bytes": 4_000_000}
    )
    big.produce(topic, b"{" + b"x" * 2_000_000, key=b"19630621_4278")
    assert big.flush(30) == 0
    recovered = time.monotonic()
    outcome = settle(h, publisher, recovered, "one 2 MB event mid-stream")
    reliability(outcome)
    assert_whole(outcome)
    letters = h.kafka.read_all(h.settings.dead_letter_topic, 1)
    (letter,) = letters
    headers = dict(letter.headers())
    assert b"too large" in headers["x-dead-letter-reason"]
    assert len(letter.value()) <= 1024
    processor.signal(signal.SIGTERM)
    assert processor.wait(30) == 0


def _fill_partition(h: Any, records: int) -> None:
    """`records` valid events on partition 0, one per produce request (the costly shape)."""
    topic = topic_name(CREDIT_HISTORY, h.settings.topic_prefix)
    producer = Producer(
        {
            "bootstrap.servers": h.settings.kafka_bootstrap_servers,
            "linger.ms": 0,
            "batch.num.messages": 1,
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    at = datetime(2026, 1, 1, tzinfo=UTC)
    people = [h.keys.dob_ssn() for _ in range(100)]
    for i in range(records):
        event = h.credit(people[i % len(people)], 0, at=at)
        producer.produce(topic, event.encode(), key=event.key, partition=0)
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0


def test_a_partition_past_50k_records_keeps_flowing(
    fault_harness: Callable[..., Any], reliability: Callable[[Outcome], None]
) -> None:
    h = fault_harness(topic_partitions=1)
    _fill_partition(h, 50_000)
    processor = h.start()
    processor.wait_ready()
    started = time.monotonic()
    h.wait_until(
        lambda: (
            processor.metric("credit_stream_events_processed_total", view="credit_history")
            >= 50_000
        ),
        120,
        "the 50k backlog to be written",
    )
    drained = time.monotonic() - started
    publisher = _stream(h)
    outcome = settle(
        h,
        publisher,
        time.monotonic(),
        f"a partition past 50k records (backlog drained in {drained:.0f} s), then a stream",
    )
    reliability(outcome)
    assert_whole(outcome)
    assert "stream stalled" not in processor.log
