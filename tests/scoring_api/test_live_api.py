"""The live page's HTTP side through ASGI: the page, its files, the contract, entity reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core.contract import ENTITY_KEYS, VIEWS

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture(scope="module")
async def client(trained_stack: Any, api_client: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(trained_stack.settings, trained_stack.model_dir) as test_client:
        yield test_client


async def test_the_page_and_its_files_are_served_without_anything_external(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for name in ("app.js", "chart.js", "style.css", "login.js"):
        response = await client.get(f"/live/static/{name}")
        assert response.status_code == 200, name
        # Offline by construction: nothing is loaded from another host.
        assert "http://" not in response.text and "https://" not in response.text
    assert "http://" not in page.text and "https://" not in page.text
    assert (await client.get("/live/static/../main.py")).status_code == 404
    assert (await client.get("/live/static/secrets.txt")).status_code == 404


async def test_the_contract_lists_every_view_feature_and_the_loan_form(
    client: httpx.AsyncClient,
) -> None:
    body = (await client.get("/live/contract")).json()
    assert [v["name"] for v in body["views"]] == [v.name for v in VIEWS]
    assert body["views"][0]["features"] == [
        {"name": c.name, "kind": c.kind} for c in VIEWS[0].features
    ]
    assert {e["name"] for e in body["entities"]} == set(ENTITY_KEYS)
    form = body["loan_form"]
    assert set(form["schema"]["properties"]) == set(form["example"])


async def test_an_entity_is_read_through_feast_with_its_event_time(
    client: httpx.AsyncClient, trained_stack: Any
) -> None:
    application = trained_stack.latest_loan_application()
    response = await client.post(
        "/live/entities", json={"entity": "dob_ssn", "key": application["dob_ssn"]}
    )
    assert response.status_code == 200
    view = response.json()["views"]["credit_history"]
    assert view["event_ts"] is not None
    assert all(value is not None for value in view["values"].values())
    zipcode = await client.post(
        "/live/entities", json={"entity": "zipcode", "key": application["zipcode"]}
    )
    assert zipcode.json()["views"]["zipcode_features"]["values"]["city"]


async def test_a_bad_key_is_refused_without_echoing_it(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/live/entities", json={"entity": "dob_ssn", "key": "19631399_4278"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    assert "valid date" in response.text
    assert "19631399" not in response.text
    unknown = await client.post("/live/entities", json={"entity": "ssn", "key": "1"})
    assert unknown.status_code == 422
