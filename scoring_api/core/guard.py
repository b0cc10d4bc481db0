"""Checks before any route runs, and headers on every answer (pure ASGI, one pass).

- Host: only names on the allow-list (`CREDIT_API_TRUSTED_HOSTS`, loopback names by default)
  are served; a DNS-rebound page asking with its own name gets 400 `invalid_host`.
- Body: at most `CREDIT_API_MAX_BODY_BYTES` (413 `payload_too_large` before anything parses
  it, from Content-Length or while reading a chunked body); a body must be JSON (415).
- Headers: nosniff, no framing, no referrer, a Content-Security-Policy, and
  `Cache-Control: no-store` on everything but the page's static files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# Swagger UI and ReDoc start from an inline script, and style themselves inline.
_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")
_CACHEABLE_PREFIXES = ("/live/static/", "/docs/static/")
_BODY_METHODS = {b"POST", b"PUT", b"PATCH", b"DELETE"}


class GuardMiddleware:
    def __init__(self, app: ASGIApp, *, trusted_hosts: Iterable[str], max_body_bytes: int) -> None:
        self.app = app
        self.hosts = {h.strip().lower() for h in trusted_hosts if h.strip()}
        self.any_host = "*" in self.hosts
        self.max_body = max_body_bytes

    def _host_ok(self, scope: Scope) -> bool:
        if self.any_host:
            return True
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1").lower()
                # "[::1]:8000" -> "::1"; "127.0.0.1:8000" -> "127.0.0.1"
                host = host[1:].split("]")[0] if host.startswith("[") else host.split(":")[0]
                return host in self.hosts
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if not self._host_ok(scope):
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._host_ok(scope):
            await _refuse(scope, send, 400, "invalid_host", "this host name is not served")
            return
        if scope["method"].encode() in _BODY_METHODS:
            refused = await self._body(scope, receive, send)
            if refused is None:
                return
            receive = refused
        await self.app(scope, receive, _with_headers(scope["path"], send))

    async def _body(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """The body read in full (bounded), replayed to the app; None when refused here."""
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                await _refuse(scope, send, 400, "bad_request", "invalid Content-Length")
                return None
            if int(length) > self.max_body:
                await self._too_large(scope, send)
                return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await self._too_large(scope, send)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and not _is_json(headers.get(b"content-type", b"")):
            await _refuse(
                scope, send, 415, "unsupported_media_type", "the body must be application/json"
            )
            return None
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the client's disconnect, if any

        return replay

    async def _too_large(self, scope: Scope, send: Send) -> None:
        await _refuse(
            scope,
            send,
            413,
            "payload_too_large",
            f"the body may have at most {self.max_body} bytes",
        )


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";")[0].strip().lower()
    return media == b"application/json"


def _security_headers(path: str) -> list[tuple[bytes, bytes]]:
    csp = _DOCS_CSP if path in _DOCS_PATHS else _PAGE_CSP
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", csp.encode()),
    ]
    return headers


def _with_headers(path: str, send: Send) -> Send:
    extra = _security_headers(path)
    cacheable = path.startswith(_CACHEABLE_PREFIXES)

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            names = {name.lower() for name, _ in headers}
            headers += [(n, v) for n, v in extra if n not in names]
            if not cacheable and b"cache-control" not in names:
                headers.append((b"cache-control", b"no-store"))
            message["headers"] = headers
        await send(message)

    return send_with_headers


async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    """An answer in the API's error shape, sent before any route ran."""
    rid = scope.get("state", {}).get("request_id", "-")
    body = json.dumps(
        {"error": {"code": code, "message": message, "request_id": rid, "details": []}}
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *_security_headers(scope["path"]),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
