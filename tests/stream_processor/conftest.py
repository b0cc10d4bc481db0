"""Fixtures of the stream-processor tests: unique settings, event builders, and handles on
Kafka, both stores and processor subprocesses (tests import nothing from here but fixtures)."""

from __future__ import annotations

import contextlib
import random
import signal
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client import values

from core.contract import CREDIT_HISTORY, VIEWS, ZIPCODE_FEATURES, ViewContract
from core.events import UpdateEvent, new_event, topic_name
from core.ports import free_port
from core.settings import Settings


@pytest.fixture(autouse=True)
def _in_memory_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """Metric values in memory, per registry, as in a worker.

    `import feast` switches prometheus_client to multiprocess mode (shared mmap values keyed by
    metric name) when it is imported first; a worker imports prometheus_client before Feast
    (stream_processor/__init__.py), a test session cannot promise that order.
    """
    monkeypatch.setattr(values, "ValueClass", values.MutexValue)


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy; fail the test naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# -- events ------------------------------------------------------------------------------------


class EntityKeys:
    """Entity keys never handed out before in this session (tests share the stores)."""

    def __init__(self) -> None:
        self._used: set[object] = set()
        self._rng = random.Random()

    def dob_ssn(self) -> str:
        while True:
            key = (
                f"{self._rng.randint(1940, 2004)}{self._rng.randint(1, 12):02d}"
                f"{self._rng.randint(1, 28):02d}_{self._rng.randint(0, 9999):04d}"
            )
            if key not in self._used:
                self._used.add(key)
                return key

    def zipcode(self) -> int:
        while True:
            key = self._rng.randint(0, 99_999)
            if key not in self._used:
                self._used.add(key)
                return key


def credit_event(dob_ssn: str, due: int, at: datetime | None = None) -> UpdateEvent:
    """A credit-history update whose every feature is `due` (easy to check)."""
    row = {"dob_ssn": dob_ssn, **{c.name: due for c in CREDIT_HISTORY.features}}
    return new_event(CREDIT_HISTORY, row, event_timestamp=at or datetime.now(UTC))


def zipcode_event(zipcode: int, population: int, at: datetime | None = None) -> UpdateEvent:
    row = {
        "zipcode": zipcode,
        "city": "Fort Worth",
        "state": "TX",
        "location_type": "PRIMARY",
        "tax_returns_filed": 10,
        "population": population,
        "total_wages": 1000,
    }
    return new_event(ZIPCODE_FEATURES, row, event_timestamp=at or datetime.now(UTC))


# -- Kafka -------------------------------------------------------------------------------------


@dataclass
class Kafka:
    """Topics, producing and reading back, independent of producers/."""

    settings: Settings

    @property
    def _bootstrap(self) -> dict[str, str | int | float | bool]:
        return {"bootstrap.servers": self.settings.kafka_bootstrap_servers}

    def create_topics(self) -> None:
        names = [topic_name(v, self.settings.topic_prefix) for v in VIEWS]
        names.append(self.settings.dead_letter_topic)
        admin = AdminClient(self._bootstrap)
        new = [NewTopic(n, num_partitions=self.settings.topic_partitions) for n in names]
        for future in admin.create_topics(new, operation_timeout=10).values():
            future.result()
        wait_until(
            lambda: set(names) <= set(admin.list_topics(timeout=5).topics), 10, "topics to appear"
        )

    def publish(self, events: Sequence[UpdateEvent]) -> None:
        self.send(
            [(topic_name(e.view, self.settings.topic_prefix), e.key, e.encode()) for e in events]
        )

    def send(self, records: Sequence[tuple[str, bytes | None, bytes | None]]) -> None:
        producer = Producer({**self._bootstrap, "linger.ms": 5, "acks": "all"})
        for topic, key, value in records:
            producer.produce(topic, value, key=key)
            producer.poll(0)
        assert producer.flush(30) == 0

    def read_all(self, topic: str, count: int | None = None, timeout: float = 30) -> list[Any]:
        """Messages of `topic` from the beginning: the first `count`, or all (until 2 s idle)."""
        consumer = Consumer(
            {
                **self._bootstrap,
                "group.id": f"reader-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 10,
                "session.timeout.ms": 6000,
            }
        )
        consumer.subscribe([topic])
        messages: list[Any] = []
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        try:
            while time.monotonic() < deadline:
                if count is not None and len(messages) >= count:
                    break
                if count is None and messages and time.monotonic() - last > 2:
                    break
                msg = consumer.poll(0.2)
                if msg is not None and msg.error() is None:
                    messages.append(msg)
                    last = time.monotonic()
        finally:
            consumer.close()
        return messages

    def committed(self) -> dict[tuple[str, int], int]:
        """Offsets the processor's group has committed, per (topic, partition)."""
        admin = AdminClient(self._bootstrap)
        request = [ConsumerGroupTopicPartitions(self.settings.consumer_group)]
        (future,) = admin.list_consumer_group_offsets(request).values()
        result = future.result()
        return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions}


# -- stores ------------------------------------------------------------------------------------


@dataclass
class Stores:
    """Reads of what the processor wrote: Postgres rows and Feast online values."""

    settings: Settings
    feast: Any

    def offline_rows(self, view: ViewContract, event_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Rows of `view`'s table with these event ids (duplicates would show twice)."""
        table = f'"{self.settings.postgres_schema}"."{view.table}"'
        with (
            contextlib.closing(psycopg2.connect(**self.settings.postgres_connect_kwargs())) as conn,
            conn.cursor() as cur,
        ):
            cur.execute(f"SELECT * FROM {table} WHERE event_id = ANY(%s)", (list(event_ids),))
            names = [d.name for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def offline_ids(self, view: ViewContract, event_ids: Sequence[str]) -> list[str]:
        return [r["event_id"] for r in self.offline_rows(view, event_ids)]

    def online(self, view: ViewContract, keys: Sequence[Any]) -> dict[Any, dict[str, Any]]:
        """Feature values per entity key, read through Feast (None when absent)."""
        rows = [{view.entity.name: k} for k in keys]
        result = self.feast.get_online_features(features=view.feature_refs(), entity_rows=rows)
        data = result.to_dict(include_event_timestamps=True)
        return {
            key: {name: values[i] for name, values in data.items() if name != view.entity.name}
            for i, key in enumerate(keys)
        }

    def online_due(self, keys: Sequence[str]) -> dict[str, int | None]:
        """The credit_card_due online per dob_ssn (credit_event sets every feature to it)."""
        return {k: v["credit_card_due"] for k, v in self.online(CREDIT_HISTORY, keys).items()}


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def processor_stack(stack_settings: Settings) -> Settings:
    """The session stack with the offline tables and the Feast registry in place."""
    from core.feast_store import apply_definitions, open_store
    from core.offline_store import PostgresOfflineWriter

    with PostgresOfflineWriter(stack_settings) as writer:
        writer.create_tables()
    apply_definitions(open_store(stack_settings))
    return stack_settings


@pytest.fixture(scope="session")
def feast_store(processor_stack: Settings) -> Any:
    from core.feast_store import open_store

    return open_store(processor_stack)


@pytest.fixture(scope="session")
def entity_keys() -> EntityKeys:
    return EntityKeys()


def unique_settings(base: Settings, **changes: Any) -> Settings:
    """Own topics, consumer group and metrics port: tests never see each other's events."""
    tag = uuid.uuid4().hex[:10]
    update = {
        "topic_prefix": f"t{tag}-",
        "consumer_group": f"g{tag}",
        "metrics_port": free_port(),
        **changes,
    }
    return base.model_copy(update=update)


@dataclass
class Harness:
    """One test's world: unique settings and topics, Kafka, the stores, processor processes."""

    settings: Settings
    kafka: Kafka
    stores: Stores
    keys: EntityKeys
    log_dir: Path
    start_processor: Callable[..., Any]  # the session's `start_processor` fixture
    processes: list[Any] = field(default_factory=list)

    credit = staticmethod(credit_event)
    zipcode = staticmethod(zipcode_event)
    wait_until = staticmethod(wait_until)

    def start(self, *args: str, settings: Settings | None = None) -> Any:
        """Start `python -m stream_processor *args` (killed at teardown if still running)."""
        log_path = self.log_dir / f"processor-{len(self.processes)}.log"
        process = self.start_processor(settings or self.settings, log_path, *args)
        self.processes.append(process)
        return process

    def wait_offline(self, events: Sequence[UpdateEvent], timeout: float = 60) -> None:
        """Until every event has its row in Postgres."""
        by_view: dict[str, list[UpdateEvent]] = {}
        for event in events:
            by_view.setdefault(event.view.name, []).append(event)

        def all_there() -> bool:
            return all(
                len(set(self.stores.offline_ids(group[0].view, [e.event_id for e in group])))
                == len({e.event_id for e in group})
                for group in by_view.values()
            )

        wait_until(all_there, timeout, f"{len(events)} events in the offline store")

    def stop_service(self, name: str) -> None:
        """Stop one server of the session stack ("redis", "postgres"); see `start_services`."""
        from local_stack import LocalStack

        stack = LocalStack(self.settings)
        assert stack.pid_of(name) is not None, f"{name} of the session stack is not running"
        stack.stop_service(name, 15)

    def signal_service(self, name: str, sig: signal.Signals) -> None:
        """Send `sig` to every process of one server of the session stack (SIGSTOP: a hang).

        SIGKILL is a crash: the server's group is killed and its pid file removed, so that
        `start_services` starts it again from its data on disk.
        """
        from local_stack import LocalStack

        stack = LocalStack(self.settings)
        pid = stack.pid_of(name)
        assert pid is not None, f"{name} of the session stack is not running"
        if sig == signal.SIGKILL:
            stack.stop_service(name, 15, signal.SIGKILL)  # waits until the whole group is gone
        else:
            # Every process of the server: Postgres' backends leave the postmaster's group.
            import psutil

            server = psutil.Process(pid)
            for process in [server, *server.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.send_signal(sig)

    def start_services(self) -> None:
        """Start whatever server of the session stack is stopped (data kept on disk)."""
        from local_stack import LocalStack

        LocalStack(self.settings).up()

    def close(self) -> None:
        for process in self.processes:
            process.stop(0)  # SIGKILL to its group: a test's leftovers need no clean stop


@pytest.fixture(scope="session")
def harness_factory(
    processor_stack: Settings,
    feast_store: Any,
    entity_keys: EntityKeys,
    start_processor: Callable[..., Any],
) -> Callable[..., Harness]:
    """Build a Harness with its own topics (created here) in `log_dir`; the caller closes it."""

    def make(log_dir: Path, **changes: Any) -> Harness:
        settings = unique_settings(processor_stack, **changes)
        kafka = Kafka(settings)
        kafka.create_topics()
        stores = Stores(settings, feast_store)
        return Harness(settings, kafka, stores, entity_keys, log_dir, start_processor)

    return make


@pytest.fixture
def harness(harness_factory: Callable[..., Harness], tmp_path: Path) -> Iterator[Harness]:
    made = harness_factory(tmp_path)
    yield made
    made.close()


# -- the fault suite's report ------------------------------------------------------------------

REPORT_BEGIN = "<!-- fault-table:begin -->"
REPORT_END = "<!-- fault-table:end -->"


def render_fault_table(outcomes: Sequence[Any], when: str) -> str:
    """The markdown table of docs/reliability.md from the fault suite's outcomes."""
    lines = [
        f"Measured {when} by the command above on the embedded stack (Tansu, Valkey, Postgres).",
        "",
        "| fault | events | lost offline | duplicated offline | stale online | caught up in |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        lines.append(
            f"| {o.fault} | {o.events:,} | {o.lost_offline} | {o.duplicated_offline} | "
            f"{o.stale_online} | {o.catch_up_seconds:.1f} s |"
        )
    return "\n".join(lines)


@pytest.fixture(scope="session")
def reliability(request: pytest.FixtureRequest) -> Iterator[Callable[[Any], None]]:
    """Collects each fault's outcome; with --reliability-report PATH, rewrites its table."""
    outcomes: list[Any] = []
    yield outcomes.append
    target = request.config.getoption("--reliability-report")
    if not target or not outcomes:
        return
    path = Path(target)
    text = path.read_text()
    begin, end = text.index(REPORT_BEGIN) + len(REPORT_BEGIN), text.index(REPORT_END)
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    table = render_fault_table(outcomes, when)
    path.write_text(text[:begin] + "\n" + table + "\n" + text[end:])
