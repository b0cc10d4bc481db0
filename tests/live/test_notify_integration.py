"""The processor announces each batch it wrote online on the live channel (real Redis, Kafka)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from core.contract import CREDIT_HISTORY

pytestmark = pytest.mark.integration


def _messages(pubsub: Any, count: int, timeout: float) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.2)
        if message and message["type"] == "message":
            found.append(json.loads(message["data"]))
    return found


def test_a_written_batch_is_announced_with_keys_values_and_times(kit: Any, processor: Any) -> None:
    client = redis.Redis.from_url(kit.settings.redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(kit.settings.live_channel)
    keys = [kit.fresh_dob_ssn() for _ in range(3)]
    # Two events of one entity in one send: only the newest is written, and announced.
    events = [kit.credit(keys[0], 1), *(kit.credit(k, 7) for k in keys)]
    kit.publish(events)

    messages = _messages(pubsub, 1, 30)
    seen = {row["key"]: row for m in messages for row in m["rows"]}
    # The events may span batches; collect until every key has been announced.
    deadline = time.monotonic() + 30
    while set(keys) - set(seen) and time.monotonic() < deadline:
        for m in _messages(pubsub, 1, 1):
            seen.update({row["key"]: row for row in m["rows"]})
    assert set(keys) <= set(seen)

    message = messages[0]
    assert message["v"] == 1
    assert message["view"] == CREDIT_HISTORY.name
    assert message["entity"] == "dob_ssn"
    by_id = {e.event_id: e for e in events}
    for key in keys:
        row = seen[key]
        event = by_id[row["event_id"]]
        assert event.entity_value == key
        assert row["values"] == {c.name: 7 for c in CREDIT_HISTORY.features}
        assert row["event_timestamp"].endswith("Z")
        assert row["written_at"] >= row["event_timestamp"]
    pubsub.close()
    client.close()
    processor.proc.terminate()
    assert processor.proc.wait(60) == 0
    # The clear key travels in Redis only: never in the processor's log. The publishing
    # task ends with the worker, quietly.
    assert not any(key in processor.log for key in keys)
    assert "Traceback" not in processor.log and "destroyed" not in processor.log
