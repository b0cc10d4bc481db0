"""The online features of one applicant straight from Redis, in Feast's layout.

What Feast's `get_online_features_async` does for a request, minus its generic machinery:
one pipelined HMGET per view (the view's feature fields and its `_ts:` field) on the hash of
the entity's serialized key, values decoded from their protobuf bytes (core/redis_layout.py).
Field names and key prefixes come from the contract, computed once. The answer is the same
values and event times Feast's reader gives; tests/scoring_api/test_redis_reader.py checks
that on a real Redis, for present, missing and partly written entities.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from redis.asyncio import Redis

from core.contract import VIEWS_BY_NAME
from core.redis_layout import ViewLayout, decode_timestamp, decode_value
from scoring_api.service.features import Fetched, row_time, views_of


class _ViewRead:
    """What one view's HMGET asks for, and how its answer is read."""

    def __init__(self, view: str, features: list[str], project: str) -> None:
        contract = VIEWS_BY_NAME[view]
        self.view = view
        self.entity = contract.entity.name
        self.layout = ViewLayout.of(contract, project)
        self.features = features
        field_of = dict(zip(self.layout.feature_names, self.layout.fields, strict=True))
        self.fields = [field_of[feature] for feature in features] + [self.layout.ts_field]


class RedisFeatureSource:
    """Fetches the model's feature references for one applicant in one Redis round trip
    (CREDIT_ONLINE_READER=direct)."""

    def __init__(self, redis: Redis, project: str, feature_refs: list[str]) -> None:
        self._redis = redis
        self.views = views_of(feature_refs)
        self._reads = [_ViewRead(view, names, project) for view, names in self.views.items()]

    async def fetch(self, entity_row: dict[str, Any]) -> Fetched:
        async with self._redis.pipeline(transaction=False) as pipe:
            for read in self._reads:
                # redis-py's stubs say str; a Feast key is bytes, which the client sends as is
                key = cast(str, read.layout.redis_key(entity_row[read.entity]))
                pipe.hmget(key, read.fields)
            answers = await pipe.execute()
        values: dict[str, dict[str, Any]] = {}
        stamps: dict[str, datetime | None] = {}
        for read, raw in zip(self._reads, answers, strict=True):
            stamps[read.view] = row_time(*decode_timestamp(raw[-1]))
            values[read.view] = {
                feature: decode_value(value)
                for feature, value in zip(read.features, raw, strict=False)
            }
        return values, stamps
