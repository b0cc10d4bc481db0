"""Routing one record: valid events through, contract breaches to dead letters with headers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from credit_pipeline.events import UpdateEvent, new_event
from feature_repo.contract import CREDIT_HISTORY, ZIPCODE_FEATURES
from stream_processor.records import (
    HEADER_JSON,
    HEADER_OFFSET,
    HEADER_PARTITION,
    HEADER_REASON,
    HEADER_TOPIC,
    DeadLetter,
    EventRouter,
    SourceRecord,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DOB_SSN = "19630621_4278"


def _credit_row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {"dob_ssn": DOB_SSN, **{c.name: 1 for c in CREDIT_HISTORY.features}}
    row.update(changes)
    return row


def _record(topic: str, value: bytes | None, offset: int = 7) -> SourceRecord:
    return SourceRecord(topic, 2, offset, DOB_SSN.encode(), value, (("trace", b"abc"),), 1234)


def _router() -> EventRouter:
    return EventRouter("p-", timedelta(minutes=5), clock=lambda: NOW)


def test_a_valid_event_is_routed_to_its_view() -> None:
    event = new_event(CREDIT_HISTORY, _credit_row(), event_timestamp=NOW)
    routed = _router().route(_record("p-credit-history", event.encode()))
    assert isinstance(routed, UpdateEvent)
    assert routed.view is CREDIT_HISTORY
    assert routed.row == event.row
    assert routed.event_id == event.event_id


def test_router_knows_both_view_topics() -> None:
    assert set(_router().topics) == {"p-credit-history", "p-zipcode-features"}
    assert _router().topics["p-zipcode-features"] is ZIPCODE_FEATURES


def _dead(value: bytes | None, topic: str = "p-credit-history") -> DeadLetter:
    routed = _router().route(_record(topic, value))
    assert isinstance(routed, DeadLetter)
    return routed


def _doc(**changes: object) -> bytes:
    event = new_event(CREDIT_HISTORY, _credit_row(), event_timestamp=NOW)
    doc = event.to_json()
    for key, value in changes.items():
        if value is ...:
            del doc[key]
        else:
            doc[key] = value
    return json.dumps(doc).encode()


def test_each_contract_breach_becomes_a_dead_letter_with_a_reason() -> None:
    cases = {
        b"{not json": "not JSON",
        _doc(mortgage_due=...): "missing field",
        _doc(mortgage_due="12"): "must be an integer",
        _doc(dob_ssn="1963-06-21"): "does not match",
        _doc(event_timestamp=(NOW + timedelta(days=2)).isoformat()): "in the future",
        None: "tombstone",
    }
    for value, expected in cases.items():
        letter = _dead(value)
        assert expected in letter.reason, (value, letter.reason)
        assert letter.view == "credit_history"


def test_reasons_never_show_a_dob_ssn() -> None:
    secret = "19630621_427X"  # wrong format: the reason must mention it masked only
    letter = _dead(_doc(dob_ssn=secret))
    assert secret not in letter.reason
    assert "19630621" not in letter.reason


def test_a_record_of_an_unknown_topic_is_dead_lettered() -> None:
    letter = _dead(b"{}", topic="p-other")
    assert "carries no feature view" in letter.reason
    assert letter.view is None


def test_dead_letter_headers_say_where_the_record_came_from_and_why() -> None:
    letter = _dead(b"{not json")
    headers = dict(letter.headers())
    assert headers["trace"] == b"abc"  # original headers kept
    assert headers[HEADER_TOPIC] == b"p-credit-history"
    assert headers[HEADER_PARTITION] == b"2"
    assert headers[HEADER_OFFSET] == b"7"
    assert b"not JSON" in headers[HEADER_REASON]
    doc = json.loads(headers[HEADER_JSON])
    assert doc["topic"] == "p-credit-history"
    assert doc["partition"] == 2
    assert doc["offset"] == 7
    assert doc["timestamp_ms"] == 1234


def test_a_dead_letter_of_a_dead_letter_keeps_only_the_newest_facts() -> None:
    first = _dead(b"{not json")
    again = SourceRecord("p-credit-history", 0, 1, None, b"x", tuple(first.headers()), None)
    headers = DeadLetter(again, "second reason").headers()
    reasons = [v for k, v in headers if k == HEADER_REASON]
    assert reasons == [b"second reason"]
    assert ("trace", b"abc") in headers


def test_route_all_uses_one_clock_reading_per_batch() -> None:
    calls: list[int] = []

    def clock() -> datetime:
        calls.append(1)
        return NOW

    router = EventRouter("p-", clock=clock)
    event = new_event(CREDIT_HISTORY, _credit_row(), event_timestamp=NOW)
    records = [_record("p-credit-history", event.encode(), offset=i) for i in range(5)]
    routed = router.route_all(records)
    assert len(calls) == 1
    assert [r.offset for r, _ in routed] == list(range(5))
