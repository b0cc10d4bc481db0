"""The scoring API against the real stack, through its ASGI interface (TestClient)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pandas as pd
import pytest

from core.contract import CREDIT_HISTORY, EVENT_TIMESTAMP, ZIPCODE_FEATURES
from core.model.artifact import load_artifact
from scoring_api.service.scoring import MIN_TRAINED_MISSING_RATE

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

PATH = "/v1/loan-decisions"
NO_SUCH_PERSON = "19011231_9998"  # a valid key no generated history uses (born 1901)


@pytest.fixture(scope="module")
async def client(trained_stack: Any, api_client: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(trained_stack.settings, trained_stack.model_dir) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def application(trained_stack: Any) -> dict[str, Any]:
    return trained_stack.latest_loan_application()


async def test_a_known_applicant_gets_a_decision(
    client: httpx.AsyncClient, application: dict[str, Any], trained_stack: Any
) -> None:
    response = await client.post(PATH, json=application)
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["x-request-id"] == body["request_id"]
    assert body["model_version"] == trained_stack.training.metadata.version
    assert body["decision_threshold"] == 0.5
    p = body["probability_of_default"]
    assert 0 <= p <= 1
    assert body["decision"] == ("rejected" if p >= body["decision_threshold"] else "approved")
    assert body["warnings"] == []
    now = datetime.now(UTC)
    for view, key in ((CREDIT_HISTORY, "dob_ssn"), (ZIPCODE_FEATURES, "zipcode")):
        used = body["features"][view.name]
        latest = trained_stack.offline_rows(view.table, key, application[key]).iloc[-1]
        assert used["status"] == "present"
        assert used["values"] == {f: _plain(latest[f]) for f in view.feature_names}
        stamp = datetime.fromisoformat(used["event_timestamp"])
        assert stamp == pd.Timestamp(latest[EVENT_TIMESTAMP]).to_pydatetime()
        assert abs(used["age_seconds"] - (now - stamp).total_seconds()) < 60


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


async def test_the_probability_is_the_trained_pipelines(
    client: httpx.AsyncClient, application: dict[str, Any], trained_stack: Any
) -> None:
    body = (await client.post(PATH, json=application)).json()
    artifact = load_artifact(trained_stack.model_dir, body["model_version"])
    row = dict(application)
    for used in body["features"].values():
        row.update(used["values"])
    frame = pd.DataFrame([row], columns=artifact.metadata.model_columns)
    expected = artifact.pipeline.predict_proba(frame)[0, 1]
    assert body["probability_of_default"] == pytest.approx(expected, abs=1e-12)


async def test_the_callers_request_id_is_kept(
    client: httpx.AsyncClient, application: dict[str, Any]
) -> None:
    response = await client.post(PATH, json=application, headers={"X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    assert response.json()["request_id"] == "trace-42"


async def test_invalid_fields_are_listed_without_echoing_the_dob_ssn(
    client: httpx.AsyncClient, application: dict[str, Any]
) -> None:
    bad = {
        **application,
        "dob_ssn": "19631321_4278",
        "person_age": 7,
        "person_home_ownership": "CASTLE",
        "loan_amnt": -5,
        "loan_amount": 10,
    }
    response = await client.post(PATH, json=bad)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["request_id"] == response.headers["x-request-id"]
    fields = {d["field"]: d["message"] for d in error["details"]}
    assert set(fields) == {
        "dob_ssn",
        "person_age",
        "person_home_ownership",
        "loan_amnt",
        "loan_amount",
    }
    assert "valid date" in fields["dob_ssn"]
    assert "19631321" not in response.text and "4278" not in response.text
    assert "CASTLE" not in response.text  # no submitted value comes back at all


async def test_a_valid_dob_ssn_is_not_echoed_by_other_errors(
    client: httpx.AsyncClient, application: dict[str, Any]
) -> None:
    response = await client.post(PATH, json={**application, "person_age": "old", "zipcode": True})
    assert response.status_code == 422
    assert {d["field"] for d in response.json()["error"]["details"]} == {"person_age", "zipcode"}
    assert application["dob_ssn"] not in response.text


async def test_malformed_json_is_a_body_error(client: httpx.AsyncClient) -> None:
    response = await client.post(
        PATH, content=b'{"dob_ssn": "19630621_4278", ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "body"
    assert "19630621_4278" not in response.text


async def test_an_applicant_without_a_credit_report_is_scored_and_flagged(
    client: httpx.AsyncClient, application: dict[str, Any], trained_stack: Any
) -> None:
    # The documented rule: a view missing for >= 1% of training loans is scored as missing.
    assert trained_stack.training.metadata.view_missing_rate[CREDIT_HISTORY.name] >= (
        MIN_TRAINED_MISSING_RATE
    )
    response = await client.post(PATH, json={**application, "dob_ssn": NO_SUCH_PERSON})
    assert response.status_code == 200, response.text
    body = response.json()
    credit = body["features"][CREDIT_HISTORY.name]
    assert credit["status"] == "missing"
    assert credit["event_timestamp"] is None
    assert set(credit["values"].values()) == {None}
    assert body["features"][ZIPCODE_FEATURES.name]["status"] == "present"
    assert [w for w in body["warnings"] if w.startswith(CREDIT_HISTORY.name)]
    assert NO_SUCH_PERSON not in response.text


async def test_an_unknown_zipcode_is_refused(
    client: httpx.AsyncClient, application: dict[str, Any], trained_stack: Any, unused_zipcode: int
) -> None:
    assert trained_stack.training.metadata.view_missing_rate[ZIPCODE_FEATURES.name] < (
        MIN_TRAINED_MISSING_RATE
    )
    zipcode = unused_zipcode
    response = await client.post(PATH, json={**application, "zipcode": zipcode})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "features_unavailable"
    assert error["details"][0]["view"] == ZIPCODE_FEATURES.name
    assert error["details"][0]["key"] == str(zipcode)
    assert application["dob_ssn"] not in response.text


async def test_health_and_readiness(client: httpx.AsyncClient, trained_stack: Any) -> None:
    assert (await client.get("/healthz")).json() == {"status": "alive"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert trained_stack.training.metadata.version in ready.json()["checks"]["model"]["detail"]


async def test_an_unknown_path_answers_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_openapi_documents_the_examples_and_the_error_shape(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"][PATH]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    tutorial = examples["tutorial"]["value"]
    assert tutorial["zipcode"] == 76104 and tutorial["dob_ssn"] == "19630621_4278"
    assert 18 <= tutorial["person_age"] <= 120
    error_ref = "#/components/schemas/ErrorResponse"
    for status in ("422", "503", "500"):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": error_ref}
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert "features_unavailable" in operation["description"]
