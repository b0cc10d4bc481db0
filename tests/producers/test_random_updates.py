"""Random updates: valid events about existing entities, mostly credit reports, plausible moves."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter

import pytest

from core.contract import CREDIT_HISTORY, VIEWS, ZIPCODE_FEATURES
from core.events import parse_event
from history import History, generate_history
from producers.entities import EntityPool, pool_from_history
from producers.random_updates import RandomUpdates


@pytest.fixture(scope="module")
def history() -> History:
    return generate_history(persons=400, zipcodes=100, seed=9)


@pytest.fixture(scope="module")
def pool(history: History) -> EntityPool:
    return pool_from_history(history)


def test_the_pool_holds_each_entity_latest_row(history: History, pool: EntityPool) -> None:
    credit = history.credit_history.sort_values("event_timestamp").groupby("dob_ssn").tail(1)
    latest = credit.set_index("dob_ssn")[CREDIT_HISTORY.feature_names].to_dict("index")
    assert len(pool.of(CREDIT_HISTORY)) == len(latest)
    for row in pool.of(CREDIT_HISTORY)[:50]:
        assert {k: v for k, v in row.items() if k != "dob_ssn"} == latest[row["dob_ssn"]]


def test_updates_are_valid_events_of_existing_entities(pool: EntityPool) -> None:
    known = {v.name: {r[v.entity.name] for r in pool.of(v)} for v in VIEWS}
    events = list(itertools.islice(RandomUpdates(pool, seed=1), 3_000))
    for event in events:
        assert parse_event(event.view, event.encode()).row == event.row
        assert event.entity_value in known[event.view.name]
    assert len({e.event_id for e in events}) == len(events)
    mix = Counter(e.view.name for e in events)
    assert 0.85 < mix[CREDIT_HISTORY.name] / len(events) < 0.95
    assert mix[ZIPCODE_FEATURES.name] > 0


def test_values_walk_on_from_the_previous_update(pool: EntityPool) -> None:
    last: dict[object, dict[str, object]] = {}
    changed = 0
    for event in itertools.islice(RandomUpdates(pool, seed=2), 5_000):
        previous = last.get(event.entity_value)
        if previous is not None:
            diffs = [k for k, v in event.row.items() if previous[k] != v]
            changed += bool(diffs)
            # Names and codes of a zipcode never change.
            for column in event.view.features:
                if column.kind == "string":
                    assert column.name not in diffs
            for column in event.view.features:
                if column.kind == "int64":
                    assert event.row[column.name] >= 0
        last[event.entity_value] = event.row
    assert changed > 0


def test_the_same_seed_gives_the_same_rows_but_new_event_ids(pool: EntityPool) -> None:
    a = list(itertools.islice(RandomUpdates(pool, seed=7), 200))
    b = list(itertools.islice(RandomUpdates(pool, seed=7), 200))
    assert [e.row for e in a] == [e.row for e in b]
    assert not {e.event_id for e in a} & {e.event_id for e in b}


def test_an_empty_pool_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        RandomUpdates(EntityPool({}))


def test_long_runs_keep_each_column_distribution(pool: EntityPool) -> None:
    updates = RandomUpdates(pool, seed=3)
    walked = {view.name: {r[view.entity.name]: r for r in pool.of(view)} for view in VIEWS}
    for event in itertools.islice(updates, 40_000):  # ~80 updates per person
        walked[event.view.name][event.entity_value] = event.row
    for view in VIEWS:
        before, after = pool.of(view), list(walked[view.name].values())
        for column in view.features:
            if column.kind != "int64":
                assert [r[column.name] for r in before] == [r[column.name] for r in after]
                continue
            zeros = [sum(r[column.name] == 0 for r in rows) / len(rows) for rows in (before, after)]
            means = [statistics.mean(r[column.name] for r in rows) for rows in (before, after)]
            assert zeros[1] == pytest.approx(zeros[0], abs=0.05), column.name
            assert means[1] == pytest.approx(means[0], rel=0.25, abs=0.3), column.name


def test_counts_bound_by_at_most_stay_in_order_even_from_rows_out_of_order(
    pool: EntityPool,
) -> None:
    rows = [dict(r) for r in pool.of(CREDIT_HISTORY)]
    rows[0] |= {"missed_payments_6m": 5, "missed_payments_1y": 1, "missed_payments_2y": 0}
    broken = EntityPool({CREDIT_HISTORY.name: rows})
    for event in itertools.islice(RandomUpdates(broken, seed=4), 5_000):
        parse_event(event.view, event.encode())  # raises on a breach of the contract
        assert all(event.row[lo] <= event.row[up] for lo, up in CREDIT_HISTORY.orderings)
