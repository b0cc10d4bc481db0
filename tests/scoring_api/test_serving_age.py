"""How old an online row the API serves: per view, from its serving_max_age tag.

The tutorial's zipcode rows are dated 2017-01-01 and the view's TTL is ten years: from
2027-01-02 a TTL rule would refuse every request. Zipcode statistics may be served at any age
(flagged past the TTL); credit reports still count as missing past theirs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pandas as pd
import pytest

from core.contract import CREATED_TIMESTAMP, CREDIT_HISTORY, EVENT_TIMESTAMP, ZIPCODE_FEATURES
from scoring_api.main import create_app
from tests.scoring_api.conftest import BASE_URL, bearer, make_key

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

TUTORIAL_ZIPCODE_DATE = datetime(2017, 1, 1, tzinfo=UTC)


def test_each_view_has_its_serving_max_age() -> None:
    assert ZIPCODE_FEATURES.serving_max_age is None  # tagged "none"
    assert CREDIT_HISTORY.serving_max_age == CREDIT_HISTORY.view.ttl == timedelta(days=365)


@pytest.fixture(scope="module")
def old_zipcode(trained_stack: Any, unused_zipcode: int) -> int:
    """A zipcode whose only online row is dated like the tutorial's (2017-01-01)."""
    from feast.data_source import PushMode

    from core.feast_store import open_store

    used = set(trained_stack.history.zipcodes["zipcode"])
    zipcode = next(z for z in range(1, 99_999) if z not in used and z != unused_zipcode)
    row = {
        "zipcode": zipcode,
        "city": "FORT WORTH",
        "state": "TX",
        "location_type": "PRIMARY",
        "tax_returns_filed": 6058,
        "population": 10426,
        "total_wages": 150_000_000,
        EVENT_TIMESTAMP: pd.Timestamp(TUTORIAL_ZIPCODE_DATE),
        CREATED_TIMESTAMP: pd.Timestamp(TUTORIAL_ZIPCODE_DATE),
    }
    store = open_store(trained_stack.settings)
    store.push(ZIPCODE_FEATURES.push_source.name, pd.DataFrame([row]), to=PushMode.ONLINE)
    return zipcode


@pytest.fixture
async def app(trained_stack: Any) -> AsyncIterator[Any]:
    application = create_app(trained_stack.settings, model_dir=trained_stack.model_dir)
    async with application.router.lifespan_context(application):
        yield application


async def _decide(app: Any, body: dict[str, Any], now: datetime) -> httpx.Response:
    app.state.runtime.scorer.clock = lambda: now
    transport = httpx.ASGITransport(app=app)
    headers = bearer(make_key(app.state.config.settings, ("score", "features:read")))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as client:
        return await client.post("/v1/loan-decisions", json=body)


async def test_a_zipcode_row_past_its_ttl_is_served_and_flagged(
    app: Any, trained_stack: Any, old_zipcode: int
) -> None:
    body = {**trained_stack.latest_loan_application(), "zipcode": old_zipcode}
    response = await _decide(app, body, datetime(2027, 1, 2, tzinfo=UTC))
    assert response.status_code == 200, response.text
    zipcode = response.json()["features"][ZIPCODE_FEATURES.name]
    assert zipcode["status"] == "present" and zipcode["older_than_ttl"] is True
    assert zipcode["values"]["population"] == 10426
    warnings = response.json()["warnings"]
    assert any(w.startswith(f"{ZIPCODE_FEATURES.name}: values are 3653 days old") for w in warnings)


async def test_a_fresh_zipcode_row_is_not_flagged(app: Any, trained_stack: Any) -> None:
    response = await _decide(app, trained_stack.latest_loan_application(), datetime.now(UTC))
    assert response.status_code == 200, response.text
    assert response.json()["features"][ZIPCODE_FEATURES.name]["older_than_ttl"] is False


async def test_a_credit_report_past_its_ttl_still_counts_as_missing(
    app: Any, trained_stack: Any, old_zipcode: int
) -> None:
    body = {**trained_stack.latest_loan_application(), "zipcode": old_zipcode}
    response = await _decide(app, body, datetime.now(UTC) + timedelta(days=800))
    assert response.status_code == 200, response.text  # training saw applicants without one
    features = response.json()["features"]
    assert features[CREDIT_HISTORY.name]["status"] == "stale"
    assert set(features[CREDIT_HISTORY.name]["values"].values()) == {None}
    assert features[ZIPCODE_FEATURES.name]["status"] == "present"
