"""Every error leaves the API in one shape: {"error": {code, message, request_id, details}}.

Our own failures are `ApiError`s with a status and a stable `code`. Validation errors list
each field's problem but never the submitted value (FastAPI's default echoes it, and a
dob_ssn must not come back in clear). Unexpected exceptions are logged with the request id
and answered with a generic 500; their text never reaches the client.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from scoring_api.core.request_id import HEADER, request_id

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    """A failure the API answers on purpose, with a status and a stable code."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class OnlineStoreUnavailable(ApiError):
    """The online store (Redis) did not answer; retry shortly."""

    status_code = 503
    code = "online_store_unavailable"


class FeaturesUnavailable(ApiError):
    """The online store has no (fresh) features for an entity the model cannot do without."""

    status_code = 422
    code = "features_unavailable"


class NotReady(ApiError):
    """A dependency of the API is not usable right now."""

    status_code = 503
    code = "not_ready"


def error_body(code: str, message: str, rid: str, details: list[dict[str, Any]]) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "request_id": rid, "details": details}}


async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if exc.status_code == 503 else None
    if exc.status_code == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    body = error_body(exc.code, exc.message, request_id(request), exc.details)
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def _field(loc: tuple[Any, ...], kind: str) -> str:
    # ("body", "person_age") -> "person_age"; a whole-body problem -> "body"
    if kind == "json_invalid":  # loc holds a character position, not a field
        return "body"
    parts = loc[1:] if len(loc) > 1 and loc[0] == "body" else loc
    return ".".join(str(p) for p in parts)


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only location, message and type: `input` and `ctx` may hold the submitted value.
    details = [
        {
            "field": _field(tuple(err.get("loc", ())), err.get("type", "")),
            "message": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]
    body = error_body(
        "validation_error", "the request does not match the schema", request_id(request), details
    )
    return JSONResponse(body, status_code=422)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    body = error_body(code, message, request_id(request), [])
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    rid = request_id(request)
    # Frames but not the message: an exception's text may quote request data (a dob_ssn).
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("request %s failed with %s:\n%s", rid, type(exc).__name__, frames)
    body = error_body(
        "internal_error",
        "internal error; the request id identifies it in the server log",
        rid,
        [],
    )
    # This handler runs outside the request-id middleware, so it sets the header itself.
    return JSONResponse(body, status_code=500, headers={HEADER: rid})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected_error)
