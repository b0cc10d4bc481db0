"""Who is calling: an API key (`Authorization: Bearer cpk_...`) or a browser session cookie.

Keys and sessions live in Postgres (`core.api_keys`). Checking a key costs an argon2 hash, so a
process remembers each answer and re-reads the key's row (revocation, scopes) at most every
RECHECK_S. While Postgres is unreachable, answers already known are kept (revocation then waits
for Postgres); a credential never seen before gets 503 `auth_unavailable`. During an outage one
request per PROBE_S asks Postgres again, the others answer at once rather than each waiting out
the connect timeout; the outage's start and end are logged once each.
Failed attempts are logged with the client's address and a reason, never the key.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from starlette.requests import HTTPConnection

from core.api_keys import ApiKey, KeyStore, KeyStoreError
from scoring_api.core.errors import ApiError
from scoring_api.core.outage import OutageLog

log = logging.getLogger(__name__)

SESSION_COOKIE = "credit_session"
RECHECK_S = 10.0  # how stale a remembered answer may get (revocation takes effect within it)
PROBE_S = 1.0  # during a key-store outage, how often a request asks Postgres again


class Unauthenticated(ApiError):
    """No credential, or one that is not (or no longer) valid."""

    status_code = 401
    code = "unauthenticated"


class Forbidden(ApiError):
    """A valid credential without the scope the endpoint needs."""

    status_code = 403
    code = "insufficient_scope"


class AuthUnavailable(ApiError):
    """The key store (Postgres) cannot be asked about a credential seen for the first time."""

    status_code = 503
    code = "auth_unavailable"


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of a request."""

    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass
class _Known:
    key: ApiKey | None
    reason: str
    checked: float


class KeyStoreHealth:
    """Whether the key store answered last time: paces the asking during an outage, logs its
    start and end once each and tells `on_change` (the store_up gauge)."""

    def __init__(
        self,
        address: str,
        probe_s: float = PROBE_S,
        on_change: Callable[[bool], None] = lambda up: None,
    ) -> None:
        self.probe_s = probe_s
        self._outage = OutageLog(
            log,
            "key store reachable again at %s after %.1f s (checks failed: %d)",
            address,
            on_change,
        )
        self._last_probe = 0.0

    def may_ask(self) -> bool:
        """Up, or down with no probe in the last `probe_s` (this caller becomes the probe)."""
        if self._outage.down_since is None:
            return True
        now = time.monotonic()
        if now - self._last_probe < self.probe_s:
            return False
        self._last_probe = now
        return True

    def failed(self, error: KeyStoreError) -> None:
        if self._outage.down_since is None:
            self._last_probe = time.monotonic()
        self._outage.failed(
            "key store unreachable: %s; keys checked before keep working, new ones get 503 "
            "auth_unavailable",
            error,
        )

    def succeeded(self) -> None:
        self._outage.succeeded()


class Authenticator:
    """Remembers what the key store said about each credential for up to RECHECK_S."""

    def __init__(
        self,
        store: KeyStore,
        recheck_s: float = RECHECK_S,
        probe_s: float = PROBE_S,
        on_health_change: Callable[[bool], None] = lambda up: None,
    ) -> None:
        self.store = store
        self.recheck_s = recheck_s
        self.health = KeyStoreHealth(store.settings.postgres_url_masked, probe_s, on_health_change)
        self._known: dict[str, _Known] = {}
        self._argon = asyncio.Semaphore(1)  # one slow hash at a time per process

    def _recent(self, digest: str) -> tuple[_Known | None, bool]:
        """What is remembered of a credential, and whether it is recent enough to use."""
        known = self._known.get(digest)
        return known, known is not None and time.monotonic() - known.checked < self.recheck_s

    async def by_key(self, presented: str) -> tuple[ApiKey | None, str]:
        digest = "k" + hashlib.sha256(presented.encode()).hexdigest()
        known, recent = self._recent(digest)
        if known is not None and recent:
            return known.key, known.reason
        if not self.health.may_ask():
            return self._stale(known)
        try:
            if known is not None and known.key is not None:  # verified before: re-read the row
                current = await asyncio.to_thread(self.store.current, known.key.key_id)
                key, reason = _still_valid(current, known.key.name)
            else:
                async with self._argon:
                    key, reason = await asyncio.to_thread(self.store.verify, presented)
        except KeyStoreError as error:
            self.health.failed(error)
            return self._stale(known)
        self.health.succeeded()
        self._remember(digest, key, reason)
        return key, reason

    async def by_session(self, token: str) -> tuple[ApiKey | None, str]:
        digest = "s" + hashlib.sha256(token.encode()).hexdigest()
        known, recent = self._recent(digest)
        if known is not None and recent:
            return known.key, known.reason
        if not self.health.may_ask():
            return self._stale(known)
        try:
            key = await asyncio.to_thread(self.store.session_key, token)
        except KeyStoreError as error:
            self.health.failed(error)
            return self._stale(known)
        self.health.succeeded()
        reason = "" if key is not None else "unknown or expired session"
        self._remember(digest, key, reason)
        return key, reason

    def forget_session(self, token: str) -> None:
        self._known.pop("s" + hashlib.sha256(token.encode()).hexdigest(), None)

    def _stale(self, known: _Known | None) -> tuple[ApiKey | None, str]:
        if known is None:
            raise AuthUnavailable("cannot check the credential now (key store unreachable)")
        return known.key, known.reason

    def _remember(self, digest: str, key: ApiKey | None, reason: str) -> None:
        if len(self._known) > 10_000:  # bounded: a flood of made-up keys cannot grow it
            self._known.clear()
        self._known[digest] = _Known(key, reason, time.monotonic())


def _still_valid(current: ApiKey | None, name: str) -> tuple[ApiKey | None, str]:
    if current is None:
        return None, f"deleted key {name!r}"
    if not current.active:
        return None, f"revoked key {name!r}"
    return current, ""


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key from `credit-pipeline keys create`: `Authorization: Bearer cpk_...`",
)
_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="The live page's session (POST /v1/session); HttpOnly, SameSite=Strict",
)


def _client(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "-"


async def identify(conn: HTTPConnection, bearer: str | None, session: str | None) -> Caller:
    """The caller of a request or WebSocket handshake, or Unauthenticated."""
    authenticator: Authenticator = conn.app.state.authenticator
    if bearer:
        key, reason = await authenticator.by_key(bearer)
    elif session:
        key, reason = await authenticator.by_session(session)
    else:
        key, reason = None, "no credentials"
    if key is None:
        log.warning("authentication failed from %s on %s: %s", _client(conn), conn.url.path, reason)
        raise Unauthenticated(
            "a valid API key is required (Authorization: Bearer <key>) or a live-page session"
        )
    caller = Caller(key.name, key.scopes)
    conn.state.caller = caller
    return caller


def bearer_token(conn: HTTPConnection) -> str | None:
    """The token of an `Authorization: Bearer` header (WebSocket handshakes read it here)."""
    scheme, _, token = conn.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def current_caller(
    request: Request,
    scopes: SecurityScopes,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[str | None, Depends(_cookie)],
) -> Caller:
    """The dependency every protected route has: the caller, holding every scope required."""
    caller = await identify(request, credentials.credentials if credentials else None, session)
    missing = [scope for scope in scopes.scopes if not caller.allows(scope)]
    if missing:
        log.warning(
            "key %r from %s lacks scope %s for %s",
            caller.name,
            _client(request),
            ",".join(missing),
            request.url.path,
        )
        raise Forbidden(
            f"this key lacks the scope {', '.join(missing)}",
            details=[{"required_scopes": missing}],
        )
    return caller
