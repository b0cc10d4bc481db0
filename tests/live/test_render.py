"""The entity block `watch --ENTITY KEY` prints first: values as of their event time, or a
sentence for an entity the online store has no row of."""

from __future__ import annotations

from datetime import UTC, datetime

from core.live.entities import ViewState, WatchedEntity
from live.render import entity_block

KEY = "19630621_4278"


def test_a_known_entity_shows_its_values_as_of_their_event_time() -> None:
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    watched = WatchedEntity(
        "dob_ssn", KEY, {"credit_history": ViewState({"credit_card_due": 250}, at)}
    )
    lines = entity_block(watched)
    assert lines[0].endswith("credit_history (as of 2026-11-30 12:00:00.000Z)")
    assert lines[1].split() == ["credit_card_due", "250"]
    assert KEY not in "\n".join(lines)


def test_an_unknown_entity_is_said_to_be_unknown_not_shown_as_nones() -> None:
    watched = WatchedEntity(
        "dob_ssn", KEY, {"credit_history": ViewState({"credit_card_due": None})}
    )
    (line,) = entity_block(watched)
    assert "no online row" in line and "unknown dob_ssn" in line
    assert "None" not in line and KEY not in line
