"""End to end: a credit-report update published to Kafka changes the API's decision.

Producer -> Kafka (Tansu) -> stream processor (a real `python -m stream_processor` worker) ->
Redis through Feast's push source -> the API's next online read.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from core.contract import CREDIT_HISTORY, ENTITY_KEYS, LOAN_REQUEST_COLUMNS, VIEWS
from core.events import new_event, topic_name
from core.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

PATH = "/v1/loan-decisions"
# A report any lender would turn down: two bankruptcies, a year of missed payments, big dues.
RISKY_REPORT = {
    "credit_card_due": 60_000,
    "mortgage_due": 0,
    "student_loan_due": 40_000,
    "vehicle_loan_due": 30_000,
    "hard_pulls": 12,
    "missed_payments_2y": 20,
    "missed_payments_1y": 12,
    "missed_payments_6m": 6,
    "bankruptcies": 2,
}


@pytest.fixture
def stream_settings(trained_stack: Any) -> Settings:
    """Own topics and consumer group; no metrics port (nothing scrapes it here)."""
    tag = uuid.uuid4().hex[:10]
    settings: Settings = trained_stack.settings.model_copy(
        update={"topic_prefix": f"e2e{tag}-", "consumer_group": f"e2e{tag}", "metrics_port": 0}
    )
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    names = [topic_name(v, settings.topic_prefix) for v in VIEWS] + [settings.dead_letter_topic]
    new = [NewTopic(n, num_partitions=settings.topic_partitions) for n in names]
    for future in admin.create_topics(new, operation_timeout=10).values():
        future.result()
    return settings


@pytest.fixture
def processor(
    stream_settings: Settings, tmp_path: Path, start_processor: Callable[..., Any]
) -> Iterator[Path]:
    """A stream-processor worker with the test's settings; yields its log file."""
    worker = start_processor(stream_settings, tmp_path / "processor.log")
    try:
        yield worker.log_path
    finally:
        worker.stop(30)


def _applications(trained_stack: Any) -> list[dict[str, Any]]:
    """Recent loans of our history, newest first, skipping the one test_api checks."""
    loans = trained_stack.history.loans.sort_values("event_timestamp", ascending=False)
    names = [*ENTITY_KEYS, *(c.name for c in LOAN_REQUEST_COLUMNS)]
    return [{n: _plain(row[n]) for n in names} for _, row in loans.iloc[1:200].iterrows()]


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value


async def test_a_riskier_report_on_kafka_turns_approval_into_rejection(
    trained_stack: Any, api_client: Any, stream_settings: Settings, processor: Path
) -> None:
    async with api_client(stream_settings, trained_stack.model_dir) as client:
        before = None
        for application in _applications(trained_stack):
            body = (await client.post(PATH, json=application)).json()
            if body.get("decision") == "approved" and not body["warnings"]:
                before = body
                break
        assert before is not None, "no approved applicant with a credit report"

        event = new_event(
            CREDIT_HISTORY,
            {"dob_ssn": application["dob_ssn"], **RISKY_REPORT},
            event_timestamp=datetime.now(UTC),
        )
        producer = Producer({"bootstrap.servers": stream_settings.kafka_bootstrap_servers})
        producer.produce(
            topic_name(CREDIT_HISTORY, stream_settings.topic_prefix), event.encode(), key=event.key
        )
        assert producer.flush(30) == 0

        deadline = time.monotonic() + 120  # includes the worker's start and group join
        after = before
        while time.monotonic() < deadline:
            after = (await client.post(PATH, json=application)).json()
            stamp = after["features"][CREDIT_HISTORY.name]["event_timestamp"]
            if stamp and datetime.fromisoformat(stamp) >= event.event_timestamp.replace(
                microsecond=0
            ):
                break
            await anyio.sleep(0.5)
        else:
            pytest.fail(f"the update never reached the API:\n{processor.read_text()[-3000:]}")

    credit = after["features"][CREDIT_HISTORY.name]
    assert credit["values"] == RISKY_REPORT
    assert credit["age_seconds"] < 120
    assert after["decision"] == "rejected"
    assert after["probability_of_default"] > before["probability_of_default"] + 0.3
