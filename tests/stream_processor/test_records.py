"""Routing one record: valid events through, contract breaches to dead letters with headers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from core.contract import CREDIT_HISTORY, ZIPCODE_FEATURES
from core.events import UpdateEvent, new_event
from stream_processor.records import (
    HEADER_JSON,
    HEADER_OFFSET,
    HEADER_ORIGINAL_SIZE,
    HEADER_PARTITION,
    HEADER_REASON,
    HEADER_TOPIC,
    TRUNCATED_KEY_BYTES,
    TRUNCATED_VALUE_BYTES,
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


def test_values_that_may_be_personal_never_reach_a_reason() -> None:
    # A dob_ssn in any place a careless reason would echo: the timestamp, a field name, the
    # schema version.
    cases = [
        _doc(event_timestamp=DOB_SSN),
        _doc(**{DOB_SSN: 1}),
        _doc(**{f"x{DOB_SSN}": 1}),
        _doc(schema_version=DOB_SSN),
        _doc(schema_version=196306214278),
    ]
    for value in cases:
        reason = _dead(value).reason
        assert "19630621" not in reason and "4278" not in reason, reason
    assert "'colour'" in _dead(_doc(colour=1)).reason  # a plain unknown name is still named


def _record_with(key: bytes | None, value: bytes) -> SourceRecord:
    return SourceRecord("p-credit-history", 0, 1, key, value)


def test_the_message_key_must_be_the_entity_of_the_event() -> None:
    event = new_event(CREDIT_HISTORY, _credit_row(), event_timestamp=NOW)
    assert isinstance(_router().route(_record_with(DOB_SSN.encode(), event.encode())), UpdateEvent)
    missing = _router().route(_record_with(None, event.encode()))
    other = _router().route(_record_with(b"19700101_0001", event.encode()))
    assert isinstance(missing, DeadLetter) and "key is missing" in missing.reason
    assert isinstance(other, DeadLetter) and "key is not the event's dob_ssn" in other.reason
    assert "19700101" not in other.reason and "19630621" not in other.reason


def test_a_zipcode_event_is_keyed_by_its_zipcode_as_text() -> None:
    row = {"zipcode": 76104, "city": "Fort Worth", "state": "TX", "location_type": "PRIMARY"}
    row |= {"tax_returns_filed": 1, "population": 2, "total_wages": 3}
    event = new_event(ZIPCODE_FEATURES, row, event_timestamp=NOW)
    record = SourceRecord("p-zipcode-features", 0, 1, b"76104", event.encode())
    assert isinstance(_router().route(record), UpdateEvent)


def test_an_oversized_record_is_dead_lettered_with_a_bounded_copy() -> None:
    router = EventRouter("p-", clock=lambda: NOW, max_event_bytes=4096)
    value = b'{"x": "' + b"a" * 10_000 + b'"}'
    record = SourceRecord("p-credit-history", 3, 9, b"k" * 1000, value, (("big", b"h" * 5000),))
    letter = router.route(record)
    assert isinstance(letter, DeadLetter) and letter.truncated
    assert "too large: 16" in letter.reason and "limit 4096" in letter.reason
    key, copy, headers = letter.payload()
    assert key == b"k" * TRUNCATED_KEY_BYTES
    assert copy == value[:TRUNCATED_VALUE_BYTES]
    names = dict(headers)
    assert "big" not in names  # the original headers are what made it too large
    assert names[HEADER_ORIGINAL_SIZE] == str(record.size).encode()
    assert names[HEADER_OFFSET] == b"9"
    sent = len(key) + len(copy) + sum(len(k) + len(v) for k, v in headers)
    assert sent < 4096


def test_a_record_at_the_limit_is_still_validated() -> None:
    event = new_event(CREDIT_HISTORY, _credit_row(), event_timestamp=NOW)
    record = _record_with(DOB_SSN.encode(), event.encode())
    router = EventRouter("p-", clock=lambda: NOW, max_event_bytes=record.size)
    assert isinstance(router.route(record), UpdateEvent)
