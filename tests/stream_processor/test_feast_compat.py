"""stream_processor/feast_compat.py writes through Feast's provider, below its user API; these
fail loudly when the locked Feast version changes under it (then re-read the code these checks
point at, or measure `store.push` / `store.write_to_online_store` again: see that module)."""

from __future__ import annotations

import asyncio
import inspect
import types
import typing
from typing import Any

import feast
import pytest
from feast import FeatureStore
from feast.infra.online_stores.redis import RedisOnlineStore, RedisOnlineStoreConfig
from feast.infra.passthrough_provider import PassthroughProvider
from feast.infra.provider import Provider, get_provider

from core.feast_store import repo_config
from core.settings import Settings
from stream_processor.feast_compat import OnlineRow, online_writer

WRITE_PARAMETERS = ["self", "config", "table", "data", "progress"]


def _normal(hint: Any) -> Any:
    """A type hint with typing's and the builtins' spellings made equal (List/list, Optional/|)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is None:
        return hint
    if origin in (typing.Union, types.UnionType):
        return ("union", frozenset(_normal(a) for a in args))
    return (origin, tuple(_normal(a) for a in args))


def test_the_locked_version_is_the_one_this_was_written_against() -> None:
    assert feast.__version__ == "0.67.0"


def test_the_store_exposes_its_provider() -> None:
    assert isinstance(inspect.getattr_static(FeatureStore, "provider"), property)
    # The repository's configuration ("local", Redis online) gets the passthrough provider.
    provider = get_provider(repo_config(Settings()))
    assert type(provider) is PassthroughProvider
    assert type(provider.online_store) is RedisOnlineStore


@pytest.mark.parametrize("owner", [Provider, PassthroughProvider, RedisOnlineStore])
def test_the_async_write_takes_the_rows_online_rows_builds(owner: type) -> None:
    write = owner.online_write_batch_async
    assert inspect.iscoroutinefunction(write)
    assert list(inspect.signature(write).parameters) == WRITE_PARAMETERS
    assert _normal(typing.get_type_hints(write)["data"]) == _normal(list[OnlineRow])


def test_the_provider_hands_the_rows_to_the_online_store_unchanged() -> None:
    source = inspect.getsource(PassthroughProvider.online_write_batch_async)
    assert "self.online_store.online_write_batch_async(" in source
    assert "config, table, data, progress" in source


def test_the_redis_writer_still_skips_rows_that_are_not_newer() -> None:
    # The processor relies on it (docs/architecture.md, Stores): an older event never
    # overwrites a newer value. The integration test in test_online_writer.py checks it live.
    assert RedisOnlineStoreConfig.model_fields["skip_dedup"].default is False
    source = inspect.getsource(RedisOnlineStore.online_write_batch_async)
    assert "prev_event_time" in source


def test_online_writer_calls_the_providers_write() -> None:
    calls: list[tuple[Any, ...]] = []

    class FakeProvider:
        async def online_write_batch_async(self, *args: Any) -> None:
            calls.append(args)

    store = type("Store", (), {"provider": FakeProvider(), "config": "config"})()
    asyncio.run(online_writer(store)("view", []))  # type: ignore[arg-type]
    assert calls == [("config", "view", [], None)]
