"""Error handling without the stack: an unexpected failure never leaks its text."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.api_keys import SCOPES
from core.settings import Settings
from scoring_api.core.auth import Caller, current_caller
from scoring_api.main import create_app
from scoring_api.schemas import EXAMPLE_REQUEST

SECRET = "19630621_4278"


class _BrokenScorer:
    async def score(self, application: dict[str, Any]) -> Any:
        raise RuntimeError(f"bug while scoring {application['dob_ssn']}")


class _Runtime:
    scorer = _BrokenScorer()


@pytest.fixture
def app() -> Any:
    application = create_app(Settings())
    application.state.runtime = _Runtime()  # no lifespan: nothing real is opened
    # No key store either: the caller is given (tests/scoring_api/test_auth.py checks keys).
    application.dependency_overrides[current_caller] = lambda: Caller("test", frozenset(SCOPES))
    return application


async def _post(app: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        return await client.post("/v1/loan-decisions", json=EXAMPLE_REQUEST)


@pytest.mark.anyio
async def test_an_unexpected_error_is_a_generic_500(
    app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    response = await _post(app)
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal_error"
    assert error["request_id"] == response.headers["x-request-id"]
    assert "RuntimeError" not in response.text and SECRET not in response.text
    # The log names the request and the failure, but not the exception's text.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert error["request_id"] in logged and "RuntimeError" in logged
    assert SECRET not in logged
