"""Replay: every history row once, oldest first, with the offline store's deterministic ids."""

from __future__ import annotations

import pandas as pd
import pytest

from core.contract import EVENT_TIMESTAMP
from core.events import parse_event
from core.offline_store import history_event_ids
from history import History, generate_history
from producers.replay import history_events, view_frames


@pytest.fixture(scope="module")
def history() -> History:
    return generate_history(persons=300, zipcodes=80, seed=5)


def test_every_row_becomes_one_event_in_event_time_order(history: History) -> None:
    events = list(history_events(history))
    assert len(events) == len(history.credit_history) + len(history.zipcodes)
    stamps = [e.event_timestamp for e in events]
    assert stamps == sorted(stamps)
    assert {e.view.name for e in events} == {v.name for v, _ in view_frames(history)}


def test_event_ids_are_those_init_gives_the_offline_rows(history: History) -> None:
    events = list(history_events(history))
    for view, frame in view_frames(history):
        ids = {e.event_id for e in events if e.view is view}
        assert ids == set(history_event_ids(view, frame))


def test_replaying_twice_gives_the_same_events(history: History) -> None:
    first = [e.encode() for e in history_events(history)]
    again = [e.encode() for e in history_events(history)]
    assert first == again


def test_events_carry_the_rows_and_pass_the_contract(history: History) -> None:
    events = list(history_events(history))
    for view, frame in view_frames(history):
        names = [c.name for c in view.row_columns]
        expected = frame[names + [EVENT_TIMESTAMP]].sort_values(EVENT_TIMESTAMP, kind="stable")
        got = pd.DataFrame(
            [{**e.row, EVENT_TIMESTAMP: e.event_timestamp} for e in events if e.view is view]
        )
        pd.testing.assert_frame_equal(
            got.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
        )
    for event in events[:500]:
        assert parse_event(event.view, event.encode()).row == event.row


def test_limit_keeps_the_oldest_events(history: History) -> None:
    everything = list(history_events(history))
    first = list(history_events(history, limit=25))
    assert [e.encode() for e in first] == [e.encode() for e in everything[:25]]
