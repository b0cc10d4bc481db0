"""The processor's decision-log consumer under faults, against the real services: a message that
is not a decision record, and Postgres hanging (SIGSTOP) while records arrive."""

from __future__ import annotations

import signal
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg2
import pytest

from core.decision_log import RECORD_VERSION, TABLE, encode

pytestmark = pytest.mark.integration

DOB_SSN = "19630621_4278"


def decision(request_id: str) -> dict[str, Any]:
    """A record as the API logs it (values need not come from a model here)."""
    return {
        "record_version": RECORD_VERSION,
        "request_id": request_id,
        "decision_id": uuid.uuid4().hex,
        "decided_at": datetime.now(UTC).isoformat(),
        "model_version": "test",
        "application": {"dob_ssn": DOB_SSN, "zipcode": 76104},
        "features": {},
        "p_default": 0.25,
        "margin": -1.0986,
        "base_margin": -2.0,
        "threshold": 0.5,
        "decision": "approved",
        "reasons": [],
        "warnings": [],
    }


def logged(settings: Any, request_ids: list[str]) -> list[str]:
    query = (
        f'SELECT request_id FROM "{settings.postgres_schema}".{TABLE} WHERE request_id = ANY(%s)'
    )
    with psycopg2.connect(**settings.postgres_connect_kwargs()) as conn, conn.cursor() as cur:
        cur.execute(query, (request_ids,))
        return sorted(rid for (rid,) in cur.fetchall())


def send_decisions(h: Any, records: list[dict[str, Any]]) -> None:
    topic = h.settings.decision_topic
    h.kafka.send([(topic, r["request_id"].encode(), encode(r)) for r in records])


def test_a_message_that_is_not_a_decision_is_dead_lettered_and_the_log_goes_on(h: Any) -> None:
    worker = h.start()
    worker.wait_ready()
    ids = [f"{h.settings.consumer_group}-{i}" for i in range(3)]
    poison = encode({**decision("poison"), "p_default": "high"})
    send_decisions(h, [decision(ids[0])])
    h.kafka.send([(h.settings.decision_topic, b"poison", poison)])
    send_decisions(h, [decision(i) for i in ids[1:]])

    h.wait_until(lambda: logged(h.settings, ids) == sorted(ids), 60, "the valid records logged")
    (letter,) = h.kafka.read_all(h.settings.dead_letter_topic, 1)
    assert letter.value() == poison
    headers = {k: v.decode() for k, v in letter.headers()}
    reason = next(v for k, v in headers.items() if "reason" in k)
    assert "not a decision record" in reason and "p_default" in reason
    assert DOB_SSN not in reason and DOB_SSN not in worker.log
    assert logged(h.settings, ["poison"]) == []


def test_a_hung_postgres_holds_the_records_until_it_answers_then_logs_each_once(
    h: Any,
) -> None:
    worker = h.start()
    worker.wait_ready()
    first = [f"{h.settings.consumer_group}-a{i}" for i in range(20)]
    send_decisions(h, [decision(i) for i in first])
    h.wait_until(lambda: logged(h.settings, first) == sorted(first), 60, "the first records")

    later = [f"{h.settings.consumer_group}-b{i}" for i in range(50)]
    h.signal_service("postgres", signal.SIGSTOP)
    try:
        send_decisions(h, [decision(i) for i in later])
        h.wait_until(
            lambda: "decision log (Postgres) unreachable" in worker.log,
            60,
            "the outage's start in the log",
        )
    finally:
        h.signal_service("postgres", signal.SIGCONT)
    h.wait_until(lambda: logged(h.settings, later) == sorted(later), 120, "the held records")
    h.wait_until(
        lambda: "decision log (Postgres) reachable again" in worker.log,
        30,
        "the outage's end in the log",
    )
    assert logged(h.settings, first + later) == sorted(first + later)  # once each
    assert worker.metric("credit_stream_decisions_logged_total") == len(first) + len(later)


@pytest.fixture
def h(harness_factory: Any, tmp_path: Any) -> Any:
    """A harness whose writes time out after 2 s (a hang is detected quickly)."""
    made = harness_factory(tmp_path, store_timeout_seconds=2.0)
    yield made
    made.close()
