"""The API's direct Redis read gives what Feast's read gives: the same values, event times and
statuses, for the stack's applicants, for unknown keys and for hashes Feast would find half
written (some fields absent, or no `_ts:` field). Both read the session stack's real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from core.contract import CREDIT_HISTORY, VIEWS, scoring_feature_refs
from core.feast_store import PROJECT
from core.redis_layout import ViewLayout, timestamp_bytes
from scoring_api.schemas import FeatureStatus
from scoring_api.service.features import FeastFeatureSource, OnlineFeatureReader
from scoring_api.service.redis_reader import RedisFeatureSource
from scoring_api.service.store import open_serving_store

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

# Keys no history holds (a valid dob_ssn shape; zipcodes are 5 digits).
HALF_WRITTEN = "19010101_0001"  # a credit-history row with only some of its fields
NO_TIMESTAMP = "19010101_0002"  # feature fields but no `_ts:` field
UNKNOWN_ZIPCODE = 1


@pytest.fixture
async def readers(trained_stack: Any) -> AsyncIterator[tuple[OnlineFeatureReader, ...]]:
    settings = trained_stack.settings
    refs = scoring_feature_refs()
    store = open_serving_store(settings)
    await store.initialize()
    redis = Redis.from_url(settings.redis_url)
    try:
        yield (
            OnlineFeatureReader(FeastFeatureSource(store, refs), 5.0),
            OnlineFeatureReader(RedisFeatureSource(redis, PROJECT, refs), 5.0),
        )
    finally:
        await redis.aclose()
        await store.close()


@pytest.fixture
async def odd_rows(trained_stack: Any) -> AsyncIterator[None]:
    """Two credit-history hashes the processor would never leave, removed afterwards."""
    layout = ViewLayout.of(CREDIT_HISTORY, PROJECT)
    row = {feature.name: index * 7 for index, feature in enumerate(CREDIT_HISTORY.features)}
    encoded = dict(zip(layout.fields, layout.values(row), strict=True))
    stamp = timestamp_bytes(datetime.now(UTC) - timedelta(days=3, microseconds=123_457))[2]
    redis = Redis.from_url(trained_stack.settings.redis_url)
    half = layout.redis_key(HALF_WRITTEN)
    bare = layout.redis_key(NO_TIMESTAMP)
    try:
        await redis.hset(half, mapping={**dict(list(encoded.items())[::2]), layout.ts_field: stamp})
        await redis.hset(bare, mapping=encoded)
        yield
    finally:
        await redis.delete(half, bare)
        await redis.aclose()


async def test_direct_reads_equal_feasts(
    trained_stack: Any, readers: tuple[OnlineFeatureReader, ...], odd_rows: None
) -> None:
    feast, direct = readers
    rows = [
        {"dob_ssn": a["dob_ssn"], "zipcode": a["zipcode"]}
        for a in trained_stack.loan_applications(400)
    ]
    known = rows[0]
    rows += [
        {"dob_ssn": HALF_WRITTEN, "zipcode": known["zipcode"]},
        {"dob_ssn": NO_TIMESTAMP, "zipcode": UNKNOWN_ZIPCODE},
        {"dob_ssn": "19000101_0000", "zipcode": known["zipcode"]},
    ]
    now = datetime.now(UTC)
    statuses: dict[FeatureStatus, int] = {}
    # Read again as if years later too: rows past a view's serving age become STALE.
    for at, some in ((now, rows), (now + timedelta(days=3650), rows[:20] + rows[-3:])):
        for row in some:
            expected = await feast.read(row, at)
            got = await direct.read(row, at)
            assert got == expected, row
            for reading in got.values():
                statuses[reading.status] = statuses.get(reading.status, 0) + 1
    # The comparison covered every kind of answer, not only present rows.
    assert set(statuses) == set(FeatureStatus), statuses
    half = await direct.read(rows[-3], now)
    values = half[CREDIT_HISTORY.name].values
    assert half[CREDIT_HISTORY.name].status is FeatureStatus.PRESENT
    assert None in values.values() and any(v is not None for v in values.values())
    assert (await direct.read(rows[-2], now))[CREDIT_HISTORY.name].status is FeatureStatus.MISSING
    assert {view.name for view in VIEWS} == set(half)
