"""Batches: grouping per view, newest event per entity online, every event offline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.contract import CREDIT_HISTORY, ZIPCODE_FEATURES
from core.events import UpdateEvent, new_event
from core.offline_store import view_columns
from stream_processor.batching import Batch, newest_per_entity, offline_rows
from stream_processor.records import DeadLetter, SourceRecord

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _credit(dob_ssn: str, due: int, at: datetime) -> UpdateEvent:
    row = {"dob_ssn": dob_ssn, **{c.name: due for c in CREDIT_HISTORY.features}}
    return new_event(CREDIT_HISTORY, row, event_timestamp=at)


def _zipcode(zipcode: int, population: int, at: datetime) -> UpdateEvent:
    row = {
        "zipcode": zipcode,
        "city": "Fort Worth",
        "state": "TX",
        "location_type": "PRIMARY",
        "tax_returns_filed": 1,
        "population": population,
        "total_wages": 2,
    }
    return new_event(ZIPCODE_FEATURES, row, event_timestamp=at)


def test_newest_event_per_entity_wins_whatever_the_order() -> None:
    newer = _credit("19630621_4278", 2, T0 + timedelta(seconds=5))
    older = _credit("19630621_4278", 1, T0)
    other = _credit("19700101_0001", 3, T0)
    assert newest_per_entity([newer, older, other]) == [newer, other]
    assert newest_per_entity([older, newer, other]) == [newer, other]


def test_on_equal_timestamps_the_first_consumed_wins_like_feast() -> None:
    first = _credit("19630621_4278", 1, T0)
    second = _credit("19630621_4278", 2, T0)
    assert newest_per_entity([first, second]) == [first]


def test_batch_groups_valid_events_per_view_and_keeps_dead_letters() -> None:
    a, b = _credit("19630621_4278", 1, T0), _zipcode(76104, 5, T0)
    letter = DeadLetter(SourceRecord("t", 0, 3, None, b"x"), "value is not JSON")
    batch = Batch.from_routed([(letter.record, a), (letter.record, letter), (letter.record, b)])
    assert len(batch) == 3
    assert batch.by_view() == {"credit_history": [a], "zipcode_features": [b]}
    assert batch.dead_letters == [letter]


def test_offline_rows_follow_the_table_columns_and_keep_every_event() -> None:
    created = T0 + timedelta(minutes=1)
    events = [_zipcode(76104, 5, T0 + timedelta(seconds=1)), _zipcode(76104, 4, T0)]
    rows = offline_rows(ZIPCODE_FEATURES, events, created)
    assert len(rows) == 2
    as_dicts = [dict(zip(view_columns(ZIPCODE_FEATURES), row, strict=True)) for row in rows]
    assert as_dicts[1]["event_id"] == events[1].event_id
    assert as_dicts[1]["population"] == 4
    assert as_dicts[1]["event_timestamp"] == T0
    assert as_dicts[1]["created_timestamp"] == created
