"""X-Request-ID: taken from the caller when well-formed, else generated; on every response."""

from __future__ import annotations

import re
import uuid

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
_HEADER_BYTES = HEADER.encode()
# A caller's id is echoed into headers and logs: accept only short, plain tokens.
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id(request: Request) -> str:
    """The id the middleware gave this request."""
    return str(getattr(request.state, "request_id", "-"))


class RequestIdMiddleware:
    """Pure ASGI (not BaseHTTPMiddleware, which costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = ""
        for name, value in scope["headers"]:
            if name == _HEADER_BYTES:
                candidate = value.decode("latin-1")
                rid = candidate if _VALID.match(candidate) else ""
                break
        rid = rid or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        raw = rid.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (_HEADER_BYTES, raw)]
            await send(message)

        await self.app(scope, receive, send_with_id)
