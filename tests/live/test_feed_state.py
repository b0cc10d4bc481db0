"""Pure parts of the live feed: the message format, watched entities, statistics, the hub."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.contract import CREDIT_HISTORY, ZIPCODE_FEATURES
from core.events import new_event
from core.live.entities import WatchedEntity, parse_key, views_of
from core.live.errors import LiveMessageError
from core.live.messages import OnlineUpdate, decode_batch, encode_batch
from core.live.stats import FeedStats, RecentUpdates
from core.settings import Settings
from live.render import change_lines, event_line, table
from scoring_api.service.hub import LiveClient, LiveHub, recent_row

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = "19630621_4278"


def _update(due: int, at: datetime = T0, key: str = KEY, lag_ms: float = 25) -> OnlineUpdate:
    row = {"dob_ssn": key, **{c.name: due for c in CREDIT_HISTORY.features}}
    event = new_event(CREDIT_HISTORY, row, event_timestamp=at)
    written = at + timedelta(milliseconds=lag_ms)
    (update,) = decode_batch(encode_batch(CREDIT_HISTORY, [event], written))
    return update


def test_a_batch_round_trips_with_clear_key_values_and_lag() -> None:
    event = new_event(
        ZIPCODE_FEATURES,
        {"zipcode": 76104, "city": "FORT WORTH", "state": "TX", "location_type": "PRIMARY",
         "tax_returns_filed": 1, "population": 2, "total_wages": 3},
        event_timestamp=T0,
    )  # fmt: skip
    (update,) = decode_batch(encode_batch(ZIPCODE_FEATURES, [event], T0 + timedelta(seconds=1)))
    assert (update.view, update.entity, update.key) == ("zipcode_features", "zipcode", 76104)
    assert update.event_id == event.event_id
    assert update.event_timestamp == T0
    assert update.values["city"] == "FORT WORTH" and "zipcode" not in update.values
    assert update.lag_ms == pytest.approx(1000)


@pytest.mark.parametrize(
    "raw", [b"not json", b'{"v": 2}', b'{"v": 1, "view": "nope", "rows": []}', b"[]"]
)
def test_what_is_not_an_announcement_is_rejected_without_echoing_it(raw: bytes) -> None:
    with pytest.raises(LiveMessageError) as info:
        decode_batch(raw)
    assert "nope" not in str(info.value)


def test_a_watched_entity_reports_changes_and_ignores_older_or_equal_updates() -> None:
    watched = WatchedEntity("dob_ssn", KEY)
    first = watched.apply(_update(5, T0))
    assert first is not None and {c.new for c in first} == {5}
    assert {c.old for c in first} == {None}
    changes = watched.apply(_update(6, T0 + timedelta(seconds=1)))
    assert changes is not None
    assert [(c.feature, c.old, c.new) for c in changes][0] == ("credit_card_due", 5, 6)
    # Feast skips a row that is not newer: so does the watcher.
    assert watched.apply(_update(1, T0 + timedelta(seconds=1))) is None
    assert watched.apply(_update(1, T0)) is None
    assert watched.views["credit_history"].values["credit_card_due"] == 6
    lines = change_lines(watched, changes)
    assert lines[0].startswith("dob_ssn ******** credit_history.credit_card_due: 5 -> 6")
    assert KEY not in "\n".join(lines)


def test_keys_are_parsed_by_the_contract_and_errors_mask_them() -> None:
    assert parse_key("zipcode", "76104") == 76104
    assert parse_key("dob_ssn", KEY) == KEY
    with pytest.raises(ValueError) as info:
        parse_key("dob_ssn", "19631399_4278")
    assert "19631399_4278" not in str(info.value)
    assert [v.name for v in views_of("dob_ssn")] == ["credit_history"]


def test_stats_count_rates_and_lag_percentiles_per_second() -> None:
    now = [1_000.2]
    stats = FeedStats(clock=lambda: now[0], seed=1)
    for second in range(3):
        now[0] = 1_000.2 + second
        stats.observe([_update(1, lag_ms=10 + second) for _ in range(4)])
    now[0] = 1_003.1
    summary = stats.summary()
    assert summary.rate == pytest.approx(4)
    assert summary.rate_by_view == {"credit_history": pytest.approx(4)}
    assert summary.lag_p50_ms == pytest.approx(11, abs=0.01)
    assert summary.total == 12
    series = stats.series()
    assert len(series) == 60 and series[-1].events == 4 and series[0].events == 0


def test_recent_updates_keep_the_newest_first_and_mask_keys_for_display() -> None:
    recent = RecentUpdates(per_view=2)
    recent.add([_update(i, T0 + timedelta(seconds=i)) for i in range(5)])
    assert [u.values["credit_card_due"] for u in recent.of("credit_history")] == [4, 3]
    row = recent_row(recent.of("credit_history")[0])
    assert row["key"] == "********"
    line = event_line(recent.of("credit_history")[0])
    assert KEY not in line and "********" in line
    screen = table(FeedStats().summary(), recent.newest(5), "chan", 120, subscribed=True)
    assert KEY not in screen and "********" in screen


@pytest.mark.anyio
async def test_the_hub_routes_only_watched_entities_to_their_connections() -> None:
    hub = LiveHub(Settings())
    mine, other = hub.connect(), hub.connect()
    hub.watch(mine, [("dob_ssn", KEY)])
    hub.observe([_update(7), _update(8, key="19700101_0001")])
    message = mine.queue.get_nowait()
    assert message["type"] == "update" and message["key"] == KEY
    assert message["values"]["credit_card_due"] == 7
    assert mine.queue.empty() and other.queue.empty()
    snapshot = hub.snapshot()
    keys = [row["key"] for row in snapshot["recent"]["credit_history"]]
    assert KEY not in keys and "********" in keys
    hub.disconnect(mine)
    hub.observe([_update(9, T0 + timedelta(seconds=1))])
    assert mine.queue.empty()


def test_a_slow_connection_is_told_to_resync_instead_of_growing_without_bound() -> None:
    client = LiveClient(max_pending=2)
    for i in range(3):
        client.offer({"n": i})
    # Bounded: the WebSocket sender turns the overflow into a resync (the page re-reads).
    assert client.overflowed and client.queue.qsize() == 2
