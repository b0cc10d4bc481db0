"""One worker against the real stack: events reach both stores once, the newest stays online,
redelivery changes nothing, malformed events go to the dead-letter topic."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.contract import CREDIT_HISTORY, ZIPCODE_FEATURES
from core.events import topic_name
from stream_processor.records import HEADER_JSON, HEADER_OFFSET, HEADER_PARTITION, HEADER_REASON

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def running(
    harness_factory: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, Any]]:
    """One processor for the module (starting one costs ~10 s of imports and group join)."""
    harness = harness_factory(Path(tmp_path_factory.mktemp("processing")))
    processor = harness.start()
    processor.wait_ready()
    yield harness, processor
    harness.close()


def test_every_event_reaches_both_stores_once(running: tuple[Any, Any]) -> None:
    h, _ = running
    t0 = datetime.now(UTC) - timedelta(minutes=1)
    people = [h.keys.dob_ssn() for _ in range(150)]
    zipcodes = [h.keys.zipcode() for _ in range(50)]
    first = [h.credit(k, i, t0) for i, k in enumerate(people)]
    second = [h.credit(k, 1000 + i, t0 + timedelta(seconds=1)) for i, k in enumerate(people)]
    places = [h.zipcode(z, 7 * i, t0) for i, z in enumerate(zipcodes)]
    events = first + places + second
    h.kafka.publish(events)
    h.wait_offline(events)

    credit_rows = h.stores.offline_rows(CREDIT_HISTORY, [e.event_id for e in first + second])
    assert sorted(r["event_id"] for r in credit_rows) == sorted(e.event_id for e in first + second)
    row = next(r for r in credit_rows if r["event_id"] == second[0].event_id)
    assert row["dob_ssn"] == people[0]
    assert row["mortgage_due"] == 1000
    assert row["event_timestamp"] == second[0].event_timestamp
    assert len(h.stores.offline_rows(ZIPCODE_FEATURES, [e.event_id for e in places])) == 50

    h.wait_until(
        lambda: h.stores.online_due(people) == {k: 1000 + i for i, k in enumerate(people)},
        30,
        "the latest credit values online",
    )
    online = h.stores.online(ZIPCODE_FEATURES, zipcodes)
    assert [online[z]["population"] for z in zipcodes] == [7 * i for i in range(50)]
    assert online[zipcodes[0]]["city"] == "Fort Worth"


def test_redelivered_events_change_nothing(running: tuple[Any, Any]) -> None:
    h, processor = running
    people = [h.keys.dob_ssn() for _ in range(40)]
    events = [h.credit(k, i) for i, k in enumerate(people)]
    h.kafka.publish(events)
    h.wait_offline(events)
    h.wait_until(lambda: None not in h.stores.online_due(people).values(), 30, "values online")
    ids = [e.event_id for e in events]
    offline_before = h.stores.offline_rows(CREDIT_HISTORY, ids)
    online_before = h.stores.online(CREDIT_HISTORY, people)
    processed = processor.metric("credit_stream_events_processed_total", view="credit_history")

    h.kafka.publish(events)  # the same events, same event ids: a redelivery
    h.wait_until(
        lambda: (
            processor.metric("credit_stream_events_processed_total", view="credit_history")
            >= processed + len(events)
        ),
        30,
        "the redelivered events to be processed",
    )
    assert h.stores.offline_rows(CREDIT_HISTORY, ids) == offline_before
    assert h.stores.online(CREDIT_HISTORY, people) == online_before


def test_an_older_event_never_overwrites_a_newer_one(running: tuple[Any, Any]) -> None:
    h, _ = running
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    same_batch, later_batch = h.keys.dob_ssn(), h.keys.dob_ssn()
    newer = [
        h.credit(same_batch, 2, t0 + timedelta(minutes=1)),
        h.credit(later_batch, 2, t0 + timedelta(minutes=1)),
    ]
    older = [h.credit(same_batch, 1, t0), h.credit(later_batch, 1, t0)]
    # Newer then older in one publish (likely one batch), and the older one again afterwards
    # for the second key (certainly another batch): both paths must keep the newer value.
    h.kafka.publish([newer[0], older[0], newer[1]])
    h.wait_offline([newer[0], older[0], newer[1]])
    h.kafka.publish([older[1]])
    h.wait_offline(older)
    h.wait_until(
        lambda: h.stores.online_due([same_batch, later_batch]) == {same_batch: 2, later_batch: 2},
        30,
        "the newer values online",
    )
    online = h.stores.online(CREDIT_HISTORY, [later_batch])[later_batch]
    assert online["credit_card_due__ts"] == int(newer[1].event_timestamp.timestamp())  # seconds
    assert len(h.stores.offline_rows(CREDIT_HISTORY, [e.event_id for e in newer + older])) == 4


def test_malformed_events_are_dead_lettered_and_the_valid_ones_around_them_arrive(
    running: tuple[Any, Any],
) -> None:
    h, processor = running
    topic = topic_name(CREDIT_HISTORY, h.settings.topic_prefix)
    before = [h.credit(h.keys.dob_ssn(), 1) for _ in range(20)]
    after = [h.credit(h.keys.dob_ssn(), 2) for _ in range(20)]
    secret = h.keys.dob_ssn()
    template = h.credit(secret, 3).to_json()

    def broken(**changes: Any) -> bytes:
        doc = {**template, "event_id": f"bad-{len(changes)}-{sorted(changes)}"}
        for name, value in changes.items():
            if value is None:
                doc.pop(name)
            else:
                doc[name] = value
        return json.dumps(doc).encode()

    far_future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    malformed = {
        b'{"schema_version": 1, "event_id": "x", ': "not JSON",
        broken(hard_pulls=None): "missing field",
        broken(hard_pulls="three"): "must be an integer",
        broken(dob_ssn=secret.replace("_", "-")): "does not match the format",
        broken(event_timestamp=far_future): "in the future",
    }
    h.kafka.publish(before)
    h.kafka.send([(topic, secret.encode(), value) for value in malformed])
    h.kafka.publish(after)
    h.wait_offline(before + after)

    letters = h.kafka.read_all(h.settings.dead_letter_topic, len(malformed))
    assert sorted(m.value() for m in letters) == sorted(malformed)
    sources = {m.value(): m for m in h.kafka.read_all(topic)}
    for letter in letters:
        headers = {k: v for k, v in letter.headers()}
        assert letter.key() == secret.encode()  # original key kept
        assert malformed[letter.value()] in headers[HEADER_REASON].decode()
        source = sources[letter.value()]
        assert int(headers[HEADER_PARTITION]) == source.partition()
        assert int(headers[HEADER_OFFSET]) == source.offset()
        assert json.loads(headers[HEADER_JSON])["topic"] == topic
    assert processor.metric("credit_stream_events_dead_lettered_total", view="credit_history") >= 5
    assert processor.log.count(f"invalid event at {topic}[") == len(malformed)
    assert secret not in processor.log
    assert secret.replace("_", "-") not in processor.log


def test_events_from_the_project_producer_arrive(running: tuple[Any, Any]) -> None:
    """The producers' own client settings (idempotence, lz4 batches) are readable by faust."""
    from producers.producer import EventProducer

    h, _ = running
    at = datetime.now(UTC) - timedelta(seconds=5)
    events = [h.credit(h.keys.dob_ssn(), 500 + i, at) for i in range(20)]
    with EventProducer(h.settings) as producer:
        for event in events:
            producer.send(event)
        report = producer.flush(30)
    assert report.failed == 0 and report.delivered == len(events)
    h.wait_offline(events)
