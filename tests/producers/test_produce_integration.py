"""The produce commands against the real stack: events arrive keyed, valid, and complete."""

from __future__ import annotations

import argparse
import itertools
import os
import random
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from confluent_kafka import Message
from confluent_kafka.admin import AdminClient

from core.contract import CREATED_TIMESTAMP, CREDIT_HISTORY, EVENT_TIMESTAMP
from core.events import UpdateEvent, parse_event, view_of_topic
from core.offline_store import history_event_ids
from core.settings import REPO_ROOT, Settings, settings_env
from core.topics import ensure_topics, topic_names
from history import generate_history, save_history_parquet
from history.options import HISTORY_OPTIONS
from producers.cli import add_produce_commands
from producers.producer import EventProducer
from producers.replay import history_events, view_frames

pytestmark = pytest.mark.integration

Consume = Callable[[Settings, int], list[Message]]


def _run(settings: Settings, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="credit-pipeline")
    add_produce_commands(parser.add_subparsers(dest="command", required=True), HISTORY_OPTIONS)
    args = parser.parse_args(["produce", *argv])
    return int(args.func(settings, args))


def _new_person() -> str:
    """A dob_ssn no other test uses (the online store is shared by the session)."""
    born = datetime(1901, 1, 1, tzinfo=UTC) + timedelta(days=random.randrange(365 * 60))
    return f"{born:%Y%m%d}_{uuid.uuid4().int % 10_000:04d}"


def _events(settings: Settings, messages: list[Message]) -> list[UpdateEvent]:
    """Parse every message with the contract, checking its key is its entity."""
    events = []
    for msg in messages:
        view = view_of_topic(str(msg.topic()), settings.topic_prefix)
        event = parse_event(view, msg.value(), now=datetime.now(UTC) + timedelta(minutes=1))
        assert msg.key() == event.key
        events.append(event)
    return events


def _one_partition_per_entity(messages: list[Message]) -> None:
    partitions: dict[tuple[object, object], set[object]] = defaultdict(set)
    for msg in messages:
        partitions[(msg.topic(), msg.key())].add(msg.partition())
    assert all(len(p) == 1 for p in partitions.values())


def test_topics_are_created_once_with_the_configured_partitions(kafka_settings: Settings) -> None:
    settings = kafka_settings.model_copy(update={"topic_partitions": 3})
    assert ensure_topics(settings) == topic_names(settings)
    assert ensure_topics(settings) == []
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    topics = admin.list_topics(timeout=10).topics
    assert {name: len(topics[name].partitions) for name in topic_names(settings)} == {
        name: 3 for name in topic_names(settings)
    }


def test_sent_events_arrive_keyed_by_entity_and_valid(
    kafka_settings: Settings, consume: Consume
) -> None:
    ensure_topics(kafka_settings)
    rng = random.Random(4)
    people = [f"1980{m:02d}15_{rng.randrange(10_000):04d}" for m in range(1, 13)]
    sent = []
    with EventProducer(kafka_settings) as producer:
        for i in range(2_000):
            features = {c.name: i for c in CREDIT_HISTORY.features}
            row = {"dob_ssn": people[i % len(people)], **features}
            event = UpdateEvent(CREDIT_HISTORY, f"ev-{i}", datetime.now(UTC), row)
            producer.send(event)
            sent.append(event)
        report = producer.flush(30)
    assert (report.sent, report.delivered, report.failed) == (2_000, 2_000, 0)
    messages = consume(kafka_settings, 2_000)
    got = _events(kafka_settings, messages)
    assert sorted(e.encode() for e in got) == sorted(e.encode() for e in sent)
    _one_partition_per_entity(messages)
    # One entity's events keep their order (one partition, idempotent producer).
    by_person = defaultdict(list)
    for event in got:
        by_person[event.entity_value].append(int(event.event_id.removeprefix("ev-")))
    assert all(ids == sorted(ids) for ids in by_person.values())


def test_replay_sends_the_history_with_init_ids(kafka_settings: Settings, consume: Consume) -> None:
    assert _run(kafka_settings, "replay", "--persons", "60", "--zipcodes", "20", "--seed", "3") == 0
    history = generate_history(persons=60, zipcodes=20, seed=3)
    expected = {
        event_id
        for view, frame in view_frames(history)
        for event_id in history_event_ids(view, frame)
    }
    messages = consume(kafka_settings, len(expected))
    assert {e.event_id for e in _events(kafka_settings, messages)} == expected
    assert len(messages) == len(expected)
    _one_partition_per_entity(messages)


def test_replay_from_parquet_with_limit_sends_the_oldest_events(
    kafka_settings: Settings, consume: Consume, tmp_path: Path
) -> None:
    history = generate_history(persons=40, zipcodes=15, seed=8)
    save_history_parquet(history, tmp_path)
    assert _run(kafka_settings, "replay", "--from-parquet", str(tmp_path), "--limit", "30") == 0
    expected = [e.event_id for e in itertools.islice(history_events(history), 30)]
    got = _events(kafka_settings, consume(kafka_settings, 30))
    assert sorted(e.event_id for e in got) == sorted(expected)


def test_stream_sends_count_random_updates(
    kafka_settings: Settings, consume: Consume, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(kafka_settings, "stream", "--rate", "2000", "--count", "1500", "--seed", "1") == 0
    assert "1,500 sent, 1,500 delivered, 0 failed" in capsys.readouterr().out
    messages = consume(kafka_settings, 1_500)
    events = _events(kafka_settings, messages)
    assert len(events) == 1_500 and len({e.event_id for e in events}) == 1_500
    _one_partition_per_entity(messages)
    # Fresh timestamps: stamped while sending.
    assert all(datetime.now(UTC) - e.event_timestamp < timedelta(minutes=1) for e in events)


def test_update_keeps_the_online_values_it_is_not_given(
    kafka_settings: Settings, consume: Consume, capsys: pytest.CaptureFixture[str]
) -> None:
    from feast.data_source import PushMode

    from core.feast_store import apply_definitions, open_store

    person = _new_person()
    seeded = {c.name: 1_000 - i for i, c in enumerate(CREDIT_HISTORY.features)}  # 6m <= 1y <= 2y
    store = open_store(kafka_settings)
    apply_definitions(store)
    now = pd.Timestamp.now(tz="UTC")
    row = {"dob_ssn": person, **seeded, EVENT_TIMESTAMP: now, CREATED_TIMESTAMP: now}
    frame = pd.DataFrame([row])
    store.push(CREDIT_HISTORY.push_source.name, frame, to=PushMode.ONLINE)

    assert _run(kafka_settings, "update", "--dob-ssn", person, "--missed-payments-6m", "7") == 0
    out, err = capsys.readouterr()
    assert person not in out + err and person[-4:] not in out + err
    (event,) = _events(kafka_settings, consume(kafka_settings, 1))
    assert event.row == {"dob_ssn": person, **seeded, "missed_payments_6m": 7}


def test_update_of_an_unknown_entity_needs_every_feature(kafka_settings: Settings) -> None:
    from core.feast_store import apply_definitions, open_store
    from producers.errors import MissingFeaturesError

    apply_definitions(open_store(kafka_settings))
    person = _new_person()
    with pytest.raises(MissingFeaturesError, match="--mortgage-due") as caught:
        _run(kafka_settings, "update", "--dob-ssn", person, "--credit-card-due", "5")
    assert person[-4:] not in str(caught.value)


def test_a_stream_stopped_as_soon_as_it_says_ctrl_c_stops_it_stops_cleanly(
    kafka_settings: Settings,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_")}
    stream = subprocess.Popen(
        [sys.executable, "-m", "credit_pipeline.cli", "produce", "stream", "--rate", "20"],
        cwd=REPO_ROOT,
        env={**env, **settings_env(kafka_settings)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert stream.stderr is not None
        for line in stream.stderr:  # Ctrl-C the moment the command promises it stops
            if "(Ctrl-C stops)" in line:
                stream.send_signal(signal.SIGINT)
                break
        out, err = stream.communicate(timeout=60)
    finally:
        stream.kill()
    assert stream.returncode == 0, err
    assert "(stopped by Ctrl-C)" in out
