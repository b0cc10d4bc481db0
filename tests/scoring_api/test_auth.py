"""Who may call what: keys, scopes, revocation, sessions, the WebSocket handshake, and the
guards before any route (host names, body size, media type). Real stack, app over ASGI."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from core.api_keys import KeyStore
from scoring_api.core.auth import SESSION_COOKIE
from scoring_api.main import create_app
from scoring_api.schemas import EXAMPLE_REQUEST
from tests.scoring_api.conftest import BASE_URL, bearer, make_key

pytestmark = [pytest.mark.integration]

OPEN_PATHS = {"/healthz", "/readyz"}


@pytest.fixture(scope="module")
def app(trained_stack: Any) -> Any:
    application = create_app(trained_stack.settings, model_dir=trained_stack.model_dir)
    application.state.authenticator.recheck_s = 0  # every request asks the key store
    return application


@pytest.fixture(scope="module")
async def anon(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield client


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def _keyed(trained_stack: Any, *scopes: str) -> dict[str, str]:
    return bearer(make_key(trained_stack.settings, scopes))


def _operations(app: Any) -> list[tuple[str, str]]:
    document = app.openapi()
    found = [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if path not in OPEN_PATHS
    ]
    return [*found, ("GET", "/openapi.json")]


def _body(path: str, application: dict[str, Any]) -> dict[str, Any] | None:
    if path == "/v1/loan-decisions":
        return application
    if path == "/live/entities":
        return {"entity": "dob_ssn", "key": application["dob_ssn"]}
    return None


@pytest.mark.anyio
async def test_every_endpoint_but_health_needs_a_key(
    app: Any, anon: httpx.AsyncClient, trained_stack: Any
) -> None:
    application = trained_stack.latest_loan_application()
    operations = _operations(app)
    assert ("POST", "/v1/loan-decisions") in operations and len(operations) >= 5
    for method, path in operations:
        if path == "/v1/session":
            continue  # it is where a key is presented; tested below
        response = await anon.request(method, path, json=_body(path, application))
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["code"] == "unauthenticated"
        assert response.headers["www-authenticate"] == "Bearer"
    for path in OPEN_PATHS:
        assert (await anon.get(path)).status_code == 200, path
    wrong = await anon.get("/live/contract", headers={"Authorization": "Bearer cpk_nope"})
    assert wrong.status_code == 401


@pytest.mark.anyio
async def test_scopes_decide_what_a_key_may_do(anon: httpx.AsyncClient, trained_stack: Any) -> None:
    application = trained_stack.latest_loan_application()
    live_only = _keyed(trained_stack, "live")
    refused = await anon.post("/v1/loan-decisions", json=application, headers=live_only)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_scope"
    entity = {"entity": "dob_ssn", "key": application["dob_ssn"]}
    assert (await anon.post("/live/entities", json=entity, headers=live_only)).status_code == 403

    score_only = _keyed(trained_stack, "score")
    decided = await anon.post("/v1/loan-decisions", json=application, headers=score_only)
    assert decided.status_code == 200
    features = decided.json()["features"]
    assert features and all(view["values"] is None for view in features.values())
    assert decided.json()["reasons"] is None  # they carry feature values too
    assert (await anon.post("/live/entities", json=entity, headers=score_only)).status_code == 403

    reader = _keyed(trained_stack, "score", "features:read")
    full = await anon.post("/v1/loan-decisions", json=application, headers=reader)
    assert full.json()["features"]["credit_history"]["values"]
    assert all(reason["phrase"] for reason in full.json()["reasons"])
    assert (await anon.post("/live/entities", json=entity, headers=reader)).status_code == 200
    assert full.headers["cache-control"] == "no-store"


@pytest.mark.anyio
async def test_a_revoked_key_is_refused(anon: httpx.AsyncClient, trained_stack: Any) -> None:
    store = KeyStore(trained_stack.settings)
    record, key = store.create("test-revoked-key", ["live"])
    assert (await anon.get("/live/contract", headers=bearer(key))).status_code == 200
    store.revoke(record.name)
    assert (await anon.get("/live/contract", headers=bearer(key))).status_code == 401
    listed = {k.name: k for k in store.all()}
    assert not listed["test-revoked-key"].active


@pytest.mark.anyio
async def test_failed_attempts_are_logged_without_the_key(
    anon: httpx.AsyncClient, trained_stack: Any, caplog: pytest.LogCaptureFixture
) -> None:
    key = make_key(trained_stack.settings, ("live",))
    forged = key[:-6] + "AAAAAA"  # the right id, a wrong secret
    with caplog.at_level(logging.WARNING, logger="scoring_api.core.auth"):
        response = await anon.get("/live/contract", headers=bearer(forged))
    assert response.status_code == 401
    assert "wrong secret" in caplog.text
    secret = key.split("_", 2)[2]
    assert secret[:10] not in caplog.text and forged not in caplog.text


@pytest.mark.anyio
async def test_a_session_cookie_stands_for_the_key_until_closed(
    anon: httpx.AsyncClient, trained_stack: Any
) -> None:
    key = make_key(trained_stack.settings, ("live",))
    assert "login.js" in (await anon.get("/")).text  # no session: the sign-in page
    opened = await anon.post("/v1/session", headers=bearer(key))
    assert opened.status_code == 200
    cookie = opened.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and SESSION_COOKIE in cookie
    token = opened.cookies[SESSION_COOKIE]
    assert token not in key
    jar = {SESSION_COOKIE: token}
    transport = anon._transport
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, cookies=jar) as browser:
        assert (await browser.get("/live/contract")).status_code == 200
        assert "app.js" in (await browser.get("/")).text  # the live page itself
        assert (await browser.post("/v1/loan-decisions", json=EXAMPLE_REQUEST)).status_code == 403
        assert (await browser.delete("/v1/session")).status_code == 204
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, cookies=jar) as browser:
        assert (await browser.get("/live/contract")).status_code == 401


@pytest.mark.anyio
async def test_a_login_code_opens_one_session_only(
    anon: httpx.AsyncClient, trained_stack: Any
) -> None:
    store = KeyStore(trained_stack.settings)
    record, _ = store.create("test-login-code", ["live"])
    code = store.login_code(record.name)
    first = await anon.post("/v1/session", json={"code": code})
    assert first.status_code == 200 and first.json()["name"] == "test-login-code"
    again = await anon.post("/v1/session", json={"code": code})
    assert again.status_code == 401


@pytest.mark.anyio
async def test_guards_refuse_foreign_hosts_big_bodies_and_other_media_types(
    anon: httpx.AsyncClient, trained_stack: Any
) -> None:
    headers = _keyed(trained_stack, "score")
    rebound = await anon.get("/healthz", headers={"Host": "attacker.example"})
    assert rebound.status_code == 400 and rebound.json()["error"]["code"] == "invalid_host"
    big = b'{"dob_ssn": "' + b"1" * 20_000 + b'"}'
    too_big = await anon.post(
        "/v1/loan-decisions",
        content=big,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * 1000

    streamed = await anon.post(
        "/v1/loan-decisions",
        content=chunks(),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
    text = await anon.post(
        "/v1/loan-decisions",
        content=b"zipcode=1",
        headers={**headers, "Content-Type": "text/plain"},
    )
    assert text.status_code == 415 and text.json()["error"]["code"] == "unsupported_media_type"
    page = await anon.get("/")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


# -- the WebSocket handshake -----------------------------------------------------------------


@pytest.fixture
def ws_client(app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(app, base_url=BASE_URL) as client:
        yield client


def _refused(client: Any, headers: dict[str, str]) -> int:
    from starlette.websockets import WebSocketDisconnect

    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/live/ws", headers=headers),
    ):
        pass
    return int(refused.value.code)


# Starlette's test client says `testserver` in a handshake's Host unless told otherwise.
HOST = {"host": "127.0.0.1"}
ORIGIN = {"origin": BASE_URL, **HOST}


# Starlette's TestClient (the one ASGI client with WebSockets) warns about its httpx use.
@pytest.mark.filterwarnings("ignore:Using .httpx. with .starlette.testclient. is deprecated")
def test_the_socket_needs_a_live_key_and_this_origin(ws_client: Any, trained_stack: Any) -> None:
    live = _keyed(trained_stack, "live")
    assert _refused(ws_client, ORIGIN) == 1008  # no credentials
    assert _refused(ws_client, live) == 1008  # no Origin
    assert _refused(ws_client, {**live, "origin": BASE_URL, "host": "attacker.example"}) == 1008
    assert _refused(ws_client, {**live, "origin": "http://evil.example"}) == 1008
    assert _refused(ws_client, {**live, "origin": "null"}) == 1008
    assert _refused(ws_client, {**_keyed(trained_stack, "score"), **ORIGIN}) == 1008
    with ws_client.websocket_connect("/live/ws", headers={**live, **ORIGIN}) as ws:
        ws.send_text("not json")  # ignored, the connection stays usable
        ws.send_json({"watch": [{"entity": "dob_ssn", "key": "19630621_4278"}]})
        answers = [ws.receive_json(), ws.receive_json()]
        kinds = {answer["type"] for answer in answers}
        assert kinds == {"tick", "error"}, answers  # watching needs features:read
    reader = _keyed(trained_stack, "live", "features:read")
    with ws_client.websocket_connect("/live/ws", headers={**reader, **ORIGIN}) as ws:
        ws.send_json({"watch": [{"entity": "dob_ssn", "key": "19630621_4278"}]})
        assert ws.receive_json()["type"] == "tick"
