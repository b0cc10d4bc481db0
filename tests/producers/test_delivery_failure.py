"""Undelivered events are counted, reported with masked keys, and make the CLI exit non-zero."""

from __future__ import annotations

import argparse
import json
import logging
import socket
from datetime import UTC, datetime

import pytest

import producers.cli
from core.contract import CREDIT_HISTORY, MASK, ZIPCODE_FEATURES, ViewContract
from core.events import new_event
from core.settings import Settings
from history.options import HISTORY_OPTIONS
from producers.config import PRODUCER_DEFAULTS
from producers.producer import EventProducer

PERSONS = [f"19630621_{i:04d}" for i in range(4270, 4275)]


def _nowhere() -> Settings:
    """Settings whose Kafka port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return Settings(kafka_port=port, topic_prefix="nowhere-")


def _credit_event(person: str):  # type: ignore[no-untyped-def]
    row = {"dob_ssn": person, **{c.name: 1 for c in CREDIT_HISTORY.features}}
    return new_event(CREDIT_HISTORY, row, datetime.now(UTC))


def test_undelivered_events_are_counted_with_masked_keys(caplog: pytest.LogCaptureFixture) -> None:
    producer = EventProducer(_nowhere(), config={"message.timeout.ms": 500})
    for person in PERSONS:
        producer.send(_credit_event(person))
    with caplog.at_level(logging.WARNING):
        report = producer.flush(10)
    producer.close()
    assert (report.sent, report.delivered, report.failed, report.pending) == (5, 0, 5, 0)
    assert not report.ok
    assert {f.topic for f in report.errors} == {"nowhere-credit-history"}
    assert all("timed out" in f.error for f in report.errors)
    shown = " ".join([*(str(f) for f in report.errors), caplog.text])
    assert MASK in shown
    for person in PERSONS:
        assert person not in shown and person[-4:] not in shown


def test_close_counts_unconfirmed_events_as_failed() -> None:
    producer = EventProducer(_nowhere())  # the default 60 s timeout: nothing resolves itself
    producer.send(_credit_event(PERSONS[0]))
    assert producer.flush(0.2).pending == 1
    producer.close()
    report = producer.report()
    assert (report.failed, report.pending) == (1, 0)


@pytest.mark.parametrize(
    ("view", "key", "shown"),
    [(ZIPCODE_FEATURES, "76104", "76104"), (CREDIT_HISTORY, "19630621_4278", "*" * 8)],
)
def test_update_exits_non_zero_when_the_event_is_not_delivered(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    view: ViewContract,
    key: str,
    shown: str,
) -> None:
    monkeypatch.setitem(PRODUCER_DEFAULTS, "message.timeout.ms", 500)
    monkeypatch.setattr("core.topics.ensure_topics", lambda settings: [])
    parser = argparse.ArgumentParser()
    producers.cli.add_produce_commands(parser.add_subparsers(dest="command"), HISTORY_OPTIONS)
    argv = ["produce", "update", "--" + view.entity.name.replace("_", "-"), key]
    for column in view.features:
        argv += ["--" + column.name.replace("_", "-"), "5" if column.kind == "int64" else "X"]
    args = parser.parse_args(argv)
    assert args.func(_nowhere(), args) == 1
    out, err = capsys.readouterr()
    event = json.loads(out)
    assert str(event[view.entity.name]) == shown
    assert "1 of 1 events were not delivered" in err
    assert f"nowhere-{view.name.replace('_', '-')} key {shown}: Local: Message timed out" in err
    if view.entity_key.sensitive:
        assert key not in out + err and key[-4:] not in out + err


def test_an_unreachable_broker_is_named_in_the_error() -> None:
    from core.topics import ensure_topics
    from producers.errors import KafkaUnreachableError

    settings = _nowhere()
    with pytest.raises(KafkaUnreachableError, match=f"127.0.0.1:{settings.kafka_port}.*stack up"):
        ensure_topics(settings, timeout=1)
