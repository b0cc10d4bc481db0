"""The event model: one msgspec Struct per view, its reasons, and its JSON Schema."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from core.contract import BIRTH_DATE_PATTERN, CREDIT_HISTORY, VIEWS, ZIPCODE_FEATURES
from core.event_model import ENVELOPE_FIELDS, MAX_EVENT_ID_LENGTH, event_json_schema, event_model
from core.events import InvalidEvent, new_event, parse_event
from core.validation import INT64_RANGE

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DOB_SSN = "19630621_4278"


def _doc(**changes: object) -> bytes:
    row = {"dob_ssn": DOB_SSN, **{c.name: 1 for c in CREDIT_HISTORY.features}}
    doc = new_event(CREDIT_HISTORY, row, event_timestamp=NOW).to_json()
    for key, value in changes.items():
        if value is ...:
            del doc[key]
        else:
            doc[key] = value
    return json.dumps(doc).encode()


def _reason(raw: bytes | None) -> str:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(CREDIT_HISTORY, raw, now=NOW)
    return str(caught.value)


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v.name)
def test_the_struct_has_the_envelope_and_the_row_of_its_view(view: object) -> None:
    model = event_model(view)  # type: ignore[arg-type]
    names = [f.encode_name for f in msgspec.structs.fields(model.struct)]
    assert names == [*ENVELOPE_FIELDS, *(c.name for c in model.view.row_columns)]
    assert model.struct.__struct_config__.forbid_unknown_fields


def test_the_json_schema_says_what_the_validator_checks() -> None:
    schema = event_json_schema(CREDIT_HISTORY)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["required"] == list(schema["properties"])  # every field, no nulls
    props = schema["properties"]
    assert props["schema_version"]["enum"] == [1]
    assert props["event_id"] == {
        "description": props["event_id"]["description"],
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_EVENT_ID_LENGTH,
    }
    assert props["event_timestamp"]["format"] == "date-time"
    # The schema states the date rule too (core.contract.BIRTH_DATE_PATTERN)
    assert props["dob_ssn"]["pattern"] == f"^{BIRTH_DATE_PATTERN}_[0-9]{{4}}$"
    for column in CREDIT_HISTORY.features:  # amounts and counts: never negative
        assert props[column.name]["type"] == "integer"
        assert (props[column.name]["minimum"], props[column.name]["maximum"]) == (0, INT64_RANGE[1])
    for lower, upper in CREDIT_HISTORY.orderings:  # said where JSON Schema cannot check it
        assert upper in props[lower]["description"]
    zipcode = event_json_schema(ZIPCODE_FEATURES)["properties"]
    assert (zipcode["zipcode"]["minimum"], zipcode["zipcode"]["maximum"]) == (0, 99999)
    assert zipcode["city"] == {"type": "string"}


@pytest.mark.parametrize(
    "stamp", ["2026-03-01T11:00:00Z", "2026-03-01 11:00:00+0000", "2026-03-01T13:00+02:00"]
)
def test_any_iso_8601_timestamp_with_an_offset_is_accepted(stamp: str) -> None:
    event = parse_event(CREDIT_HISTORY, _doc(event_timestamp=stamp), now=NOW)
    assert event.event_timestamp == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    assert list(event.row) == [c.name for c in CREDIT_HISTORY.row_columns]


REASONS = {
    b"{not json": "value is not JSON",
    b'{"schema_version": 1, "event_id": "x", ': "value is not JSON",
    b"[1, 2]": "must be a JSON object, got list",
    _doc(schema_version=2): "schema_version must be 1, got 2",
    _doc(schema_version=1.0): "schema_version must be 1, got a float",
    _doc(schema_version=True): "schema_version must be 1, got a bool",
    _doc(schema_version=...): "schema_version must be 1, got null",
    _doc(mortgage_due=..., hard_pulls=...): "missing field(s) 'mortgage_due', 'hard_pulls'",
    _doc(colour=1, **{DOB_SSN: 2}): "unknown field(s) 'colour', 1 more not shown",
    _doc(event_id=""): "'event_id' must be a non-empty string of at most 128",
    _doc(event_id="a" * 129): "'event_id' must be a non-empty string of at most 128",
    _doc(event_timestamp=5): "must be an ISO-8601 string",
    _doc(event_timestamp=DOB_SSN): "is not an ISO-8601 timestamp",
    _doc(event_timestamp="2026-03-01T12:00:00"): "has no UTC offset",
    _doc(event_timestamp=(NOW + timedelta(days=2)).isoformat()): "172800 s in the future",
    _doc(event_timestamp="1969-12-31T00:00:00Z"): "before 1970",
    _doc(dob_ssn="19630621-4278"): "dob_ssn does not match the format",
    _doc(dob_ssn="19631321_4278"): "dob_ssn does not start with a valid date",
    _doc(dob_ssn=19630621): "dob_ssn must be a string, got int",
    _doc(mortgage_due="12"): "field 'mortgage_due' must be an integer, got str",
    _doc(mortgage_due=None): "field 'mortgage_due' is null; the full feature row is required",
    _doc(mortgage_due=True): "field 'mortgage_due' must be an integer, got bool",
    _doc(mortgage_due=2**63): "field 'mortgage_due' is outside the int64 range",
    _doc(mortgage_due=-(2**63) - 1): "field 'mortgage_due' must be at least 0",
    _doc(mortgage_due=-5): "field 'mortgage_due' must be at least 0",
    _doc(missed_payments_6m=2): "'missed_payments_6m' must not exceed field 'missed_payments_1y'",
    _doc(missed_payments_1y=2): "'missed_payments_1y' must not exceed field 'missed_payments_2y'",
    # The first breach in the order of docs/events.md, whatever the order of the JSON keys.
    _doc(mortgage_due="12", dob_ssn="x"): "dob_ssn does not match the format",
}


@pytest.mark.parametrize("raw", list(REASONS), ids=range(len(REASONS)))
def test_each_breach_has_a_specific_reason_without_a_value(raw: bytes) -> None:
    reason = _reason(raw)
    assert REASONS[raw] in reason
    for value in ("19630621", "4278", "1963", "1969-12-31", "aaaa"):
        assert value not in reason


def test_a_tombstone_is_refused() -> None:
    assert "tombstone" in _reason(None)


def test_the_birth_date_pattern_accepts_exactly_the_dates_the_check_accepts() -> None:
    from core.contract import _birth_date_problem

    pattern = re.compile(f"^{BIRTH_DATE_PATTERN}$")
    years = [*range(1890, 2110), *range(2395, 2405), 9996, 9999]  # centuries, leap rules
    disagree = [
        text
        for year in years
        for month in range(14)
        for day in range(33)
        if bool(pattern.match(text := f"{year:04d}{month:02d}{day:02d}"))
        != (_birth_date_problem(text) is None)
    ]
    assert disagree == []
