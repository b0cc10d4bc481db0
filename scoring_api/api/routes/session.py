"""POST/DELETE /v1/session: a browser trades a key, or a one-time code, for a session cookie."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from core.api_keys import SESSION_TTL, ApiKey, KeyStoreError
from scoring_api.core.auth import (
    SESSION_COOKIE,
    Authenticator,
    AuthUnavailable,
    Unauthenticated,
    bearer_token,
)
from scoring_api.schemas import AUTH_ERRORS, BODY_ERRORS, ErrorResponse

router = APIRouter(prefix="/v1", tags=["session"])


class LoginCode(BaseModel):
    """A one-time code, as `credit-pipeline demo` (or `keys login-link`) prints in a link."""

    model_config = ConfigDict(extra="forbid", strict=True)
    code: str = Field(min_length=1, max_length=128)


class Session(BaseModel):
    """Whose session the cookie now holds."""

    name: str = Field(description="The key's name")
    scopes: list[str]
    expires_in_seconds: int


def _store_error(exc: KeyStoreError) -> AuthUnavailable:
    return AuthUnavailable(f"cannot open a session now ({exc})")


@router.post(
    "/session",
    response_model=Session,
    summary="Open a live-page session (sets an HttpOnly cookie)",
    responses={
        **AUTH_ERRORS,
        **BODY_ERRORS,
        422: {"model": ErrorResponse, "description": "`validation_error`"},
    },
)
async def open_session(
    request: Request,
    response: Response,
    body: Annotated[LoginCode | None, Body()] = None,
) -> Session:
    """Give an API key (`Authorization: Bearer`) or a one-time `code`; the answer sets the
    `credit_session` cookie (HttpOnly, SameSite=Strict) that the page and its WebSocket use."""
    authenticator: Authenticator = request.app.state.authenticator
    key: ApiKey | None
    presented = bearer_token(request)
    if presented is not None:
        key, _ = await authenticator.by_key(presented)
    elif body is not None:
        try:
            key = await asyncio.to_thread(authenticator.store.redeem_login_code, body.code)
        except KeyStoreError as exc:
            raise _store_error(exc) from None
    else:
        key = None
    if key is None:
        raise Unauthenticated("give a valid API key (Authorization: Bearer) or a one-time code")
    try:
        token = await asyncio.to_thread(authenticator.store.open_session, key)
    except KeyStoreError as exc:
        raise _store_error(exc) from None
    seconds = int(SESSION_TTL.total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=seconds,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.headers["Cache-Control"] = "no-store"
    return Session(name=key.name, scopes=sorted(key.scopes), expires_in_seconds=seconds)


@router.delete(
    "/session",
    status_code=204,
    summary="Close the live-page session",
    responses={503: AUTH_ERRORS[503]},
)
async def close_session(request: Request) -> Response:
    authenticator: Authenticator = request.app.state.authenticator
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        authenticator.forget_session(token)
        try:
            await asyncio.to_thread(authenticator.store.close_session, token)
        except KeyStoreError as exc:
            raise _store_error(exc) from None
    answer = Response(status_code=204)
    answer.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return answer
