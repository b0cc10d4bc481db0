"""The processor's online writers against real Redis: the direct writer stores the bytes Feast's
writer stores (and `store.push` stores), Feast reads them back, and with either writer an older
row never replaces a newer one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import redis
from feast.data_source import PushMode
from feast.infra.online_stores.redis import _redis_key

from core.contract import CREDIT_HISTORY, VIEWS, ZIPCODE_FEATURES, ViewContract
from core.events import UpdateEvent
from core.feast_store import PROJECT, open_store
from core.settings import Settings
from stream_processor.errors import FeatureViewNotRegistered
from stream_processor.online_rows import entity_key_proto
from stream_processor.redis_writer import RedisOnlineWriter
from stream_processor.writers import (
    FeastOnlineWriter,
    OnlineWriter,
    check_registered,
    push_targets,
)
from tests.stream_processor.conftest import EntityKeys, credit_event, zipcode_event

MakeWriter = Callable[[Settings], OnlineWriter]
WRITERS: dict[str, MakeWriter] = {
    # Each its own store or client: an async Redis client belongs to the loop that first used it.
    "feast": lambda s: FeastOnlineWriter(open_store(s), "test"),
    "direct": RedisOnlineWriter.open,
}


def _write(make: MakeWriter, settings: Settings, view: ViewContract, events: list[Any]) -> None:
    async def run() -> None:
        await make(settings).write(view, events)

    asyncio.run(run())


def _redis_key_of(feast_store: Any, view: ViewContract, entity: object) -> bytes:
    """The Redis key Feast gives the entity's hash."""
    config = feast_store.config
    return _redis_key(
        config.project,
        entity_key_proto(view, entity),
        entity_key_serialization_version=config.entity_key_serialization_version,
    )


def _events(view: ViewContract, keys: EntityKeys, at: datetime, n: int) -> list[UpdateEvent]:
    if view is CREDIT_HISTORY:
        return [credit_event(keys.dob_ssn(), 40 + i, at) for i in range(n)]
    return [zipcode_event(keys.zipcode(), 1000 + i, at) for i in range(n)]


def _online(feast_store: Any, view: ViewContract, entities: Sequence[object]) -> dict[str, Any]:
    result: dict[str, Any] = feast_store.get_online_features(
        features=view.feature_refs(), entity_rows=[{view.entity.name: e} for e in entities]
    ).to_dict()
    return result


@pytest.mark.integration
@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v.name)
def test_the_direct_writer_stores_feasts_bytes_and_feast_reads_them(
    view: ViewContract, processor_stack: Settings, feast_store: Any, entity_keys: EntityKeys
) -> None:
    at = datetime.now(UTC).replace(microsecond=123456) - timedelta(minutes=1)
    events = _events(view, entity_keys, at, 3)
    client = redis.Redis.from_url(processor_stack.redis_url)
    keys = [_redis_key_of(feast_store, view, e.entity_value) for e in events]

    _write(WRITERS["direct"], processor_stack, view, events)
    ours = [client.hgetall(k) for k in keys]
    # Feast reads back every value and the event time the direct writer stored.
    online = _online(feast_store, view, [e.entity_value for e in events])
    for name in view.feature_names:
        assert online[name] == [e.row[name] for e in events], name

    client.delete(*keys)
    _write(WRITERS["feast"], processor_stack, view, events)
    assert all(ours)
    assert ours == [client.hgetall(k) for k in keys]


@pytest.mark.integration
def test_feasts_writer_stores_the_bytes_store_push_writes(
    processor_stack: Settings, feast_store: Any, entity_keys: EntityKeys
) -> None:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    event = credit_event(entity_keys.dob_ssn(), 42, at)
    key = _redis_key_of(feast_store, CREDIT_HISTORY, event.entity_value)
    client = redis.Redis.from_url(processor_stack.redis_url)
    _write(WRITERS["feast"], processor_stack, CREDIT_HISTORY, [event])
    ours = client.hgetall(key)
    client.delete(key)
    frame = pd.DataFrame([{**event.row, "event_timestamp": at, "created_timestamp": at}])
    feast_store.push(CREDIT_HISTORY.push_source_name, frame, to=PushMode.ONLINE)
    assert ours
    assert ours == client.hgetall(key)


@pytest.mark.integration
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_an_older_row_never_replaces_a_newer_one_online(
    writer: str, processor_stack: Settings, feast_store: Any, entity_keys: EntityKeys
) -> None:
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    dob_ssn = entity_keys.dob_ssn()

    def write(due: int, at: datetime) -> None:
        _write(WRITERS[writer], processor_stack, CREDIT_HISTORY, [credit_event(dob_ssn, due, at)])

    def online_due() -> int:
        return int(_online(feast_store, CREDIT_HISTORY, [dob_ssn])["credit_card_due"][0])

    write(2, t0 + timedelta(seconds=1))
    write(1, t0)  # a late event
    write(3, t0 + timedelta(seconds=1))  # the same instant: the first one stays
    assert online_due() == 2
    write(5, t0 + timedelta(seconds=1, microseconds=1))  # newer by a microsecond
    assert online_due() == 5
    write(4, t0 + timedelta(seconds=2))
    assert online_due() == 4


@pytest.mark.integration
def test_the_direct_writer_reloads_its_script_after_redis_forgot_it(
    processor_stack: Settings, feast_store: Any, entity_keys: EntityKeys
) -> None:
    first, second = _events(CREDIT_HISTORY, entity_keys, datetime.now(UTC), 2)

    async def run() -> None:
        writer = RedisOnlineWriter.open(processor_stack)
        await writer.write(CREDIT_HISTORY, [first])
        redis.Redis.from_url(processor_stack.redis_url).script_flush()  # as after a restart
        await writer.write(CREDIT_HISTORY, [second])
        await writer.close()

    asyncio.run(run())
    online = _online(feast_store, CREDIT_HISTORY, [first.entity_value, second.entity_value])
    assert online["credit_card_due"] == [40, 41]


@pytest.mark.integration
def test_the_registry_check_sees_the_applied_views(processor_stack: Settings) -> None:
    from core.offline_store import PostgresOfflineWriter

    with PostgresOfflineWriter(processor_stack) as writer:
        registered = writer.registered_feature_views(PROJECT)
        assert writer.registered_feature_views("no_such_project") == set()
    assert {v.name for v in VIEWS} <= registered
    check_registered(registered, PROJECT, VIEWS)  # raises if any is missing


def test_unregistered_views_are_a_clear_error() -> None:
    with pytest.raises(FeatureViewNotRegistered, match="credit-pipeline init"):
        check_registered({CREDIT_HISTORY.name}, PROJECT, VIEWS)
    empty = SimpleNamespace(project=PROJECT, list_feature_views=lambda allow_cache: [])
    with pytest.raises(FeatureViewNotRegistered, match="credit-pipeline init"):
        push_targets(empty, ZIPCODE_FEATURES)  # type: ignore[arg-type]
