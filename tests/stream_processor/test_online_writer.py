"""The processor's online path against real Redis: the bytes `store.push` writes, and an older
row never replacing a newer one (Feast's own check, kept by calling Feast's write path)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import redis
from feast.data_source import PushMode
from feast.infra.online_stores.redis import _redis_key

from core.contract import CREDIT_HISTORY, ZIPCODE_FEATURES
from core.events import UpdateEvent, new_event
from core.feast_store import open_store
from core.settings import Settings
from stream_processor.errors import FeatureViewNotRegistered
from stream_processor.online_rows import entity_key_proto
from stream_processor.writers import FeastOnlineWriter, push_targets


def _credit(dob_ssn: str, due: int, at: datetime) -> UpdateEvent:
    row = {"dob_ssn": dob_ssn, **{c.name: due for c in CREDIT_HISTORY.features}}
    return new_event(CREDIT_HISTORY, row, event_timestamp=at)


def _online_due(feast_store: Any, dob_ssn: str) -> int:
    result = feast_store.get_online_features(
        features=CREDIT_HISTORY.feature_refs(), entity_rows=[{"dob_ssn": dob_ssn}]
    ).to_dict()
    return int(result["credit_card_due"][0])


@pytest.mark.integration
def test_the_processor_writes_the_bytes_store_push_writes(
    processor_stack: Settings, feast_store: Any, entity_keys: Any
) -> None:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    dob_ssn = entity_keys.dob_ssn()
    event = _credit(dob_ssn, 42, at)
    config = feast_store.config
    key = _redis_key(
        config.project,
        entity_key_proto(CREDIT_HISTORY, dob_ssn),
        entity_key_serialization_version=config.entity_key_serialization_version,
    )
    client = redis.Redis.from_url(processor_stack.redis_url)

    # Its own store and loop: Feast's async Redis client belongs to the loop that first used it.
    writer = FeastOnlineWriter(open_store(processor_stack), "test")
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(writer.write(CREDIT_HISTORY, [event]))
    finally:
        loop.close()
    ours = client.hgetall(key)  # type: ignore[arg-type]  # binary key
    client.delete(key)
    frame = pd.DataFrame([{**event.row, "event_timestamp": at, "created_timestamp": at}])
    feast_store.push(CREDIT_HISTORY.push_source.name, frame, to=PushMode.ONLINE)
    assert ours
    assert ours == client.hgetall(key)  # type: ignore[arg-type]  # binary key


@pytest.mark.integration
def test_an_older_row_never_replaces_a_newer_one_online(
    processor_stack: Settings, feast_store: Any, entity_keys: Any
) -> None:
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    dob_ssn = entity_keys.dob_ssn()
    # Its own store: Feast's async Redis client belongs to the loop that first used it.
    writer = FeastOnlineWriter(open_store(processor_stack), "test")
    loop = asyncio.new_event_loop()

    def write(due: int, at: datetime) -> None:
        loop.run_until_complete(writer.write(CREDIT_HISTORY, [_credit(dob_ssn, due, at)]))

    try:
        write(2, t0 + timedelta(seconds=1))
        write(1, t0)  # a late event
        write(3, t0 + timedelta(seconds=1))  # the same instant: the first one stays
        assert _online_due(feast_store, dob_ssn) == 2
        write(4, t0 + timedelta(seconds=2))
        assert _online_due(feast_store, dob_ssn) == 4
    finally:
        loop.close()


def test_a_push_source_without_a_registered_view_is_a_clear_error() -> None:
    empty = SimpleNamespace(project="credit_scoring", list_feature_views=lambda allow_cache: [])
    with pytest.raises(FeatureViewNotRegistered, match="credit-pipeline init"):
        push_targets(empty, ZIPCODE_FEATURES)  # type: ignore[arg-type]
