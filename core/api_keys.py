"""API keys, browser sessions and one-time login codes, kept in Postgres.

A key reads `cpk_<id>_<secret>`: the id (12 hex digits) names the row and is not secret; the
secret is 32 random bytes. Postgres holds only the key's argon2id hash, its name, scopes and
revocation time. Keys are random, not chosen by people, so argon2 is more than their entropy
needs; it is here so that a stolen table gives nothing to try offline.

A browser does not keep the key: it exchanges the key (or a one-time code that `demo` prints)
for a session, an HttpOnly cookie holding 32 random bytes whose SHA-256 is stored. A session
ends at its expiry or when its key is revoked.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from core.errors import CreditPipelineError

if TYPE_CHECKING:
    from core.settings import Settings

SCOPES: dict[str, str] = {
    "score": "ask for loan decisions (POST /v1/loan-decisions)",
    "features:read": "read a person's feature values: /live/entities, watched entities on "
    "/live/ws, the values inside a decision",
    "live": "open the live feed (/live/ws): rates, freshness, masked recent updates",
    "metrics": "read the API's Prometheus metrics (GET /metrics)",
}
KEY_PREFIX = "cpk"
_KEY = re.compile(rf"^{KEY_PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})$")
SESSION_TTL = timedelta(hours=12)
LOGIN_CODE_TTL = timedelta(minutes=10)


class KeyStoreError(CreditPipelineError):
    """A key operation cannot be done (unknown name, bad scope, store unreachable)."""


@dataclass(frozen=True)
class ApiKey:
    """A key as stored: never its secret."""

    key_id: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def parse_key(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    match = _KEY.match(presented)
    return (match.group(1), match.group(2)) if match else None


def new_key() -> str:
    """A fresh random key (not stored anywhere)."""
    return f"{KEY_PREFIX}_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


def check_scopes(scopes: Sequence[str]) -> frozenset[str]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise KeyStoreError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    if not scopes:
        raise KeyStoreError(f"give at least one scope of: {', '.join(SCOPES)}")
    return frozenset(scopes)


def _hasher() -> Any:
    from argon2 import PasswordHasher

    # RFC 9106's second recommended setting (64 MiB, 3 passes) is argon2-cffi's default.
    return PasswordHasher()


def token_digest(token: str) -> str:
    """SHA-256 of a random token (a session or login code): enough for 256 random bits."""
    return hashlib.sha256(token.encode()).hexdigest()


class KeyStore:
    """The keys, sessions and login codes tables in the offline store's Postgres schema."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        schema = settings.postgres_schema
        self.keys = f'"{schema}"."api_keys"'
        self.sessions = f'"{schema}"."api_sessions"'
        self.codes = f'"{schema}"."api_login_codes"'

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        import psycopg2

        try:
            conn = psycopg2.connect(**self.settings.postgres_connect_kwargs())
        except psycopg2.Error as exc:
            raise KeyStoreError(
                f"cannot reach Postgres at {self.settings.postgres_url_masked} "
                f"({type(exc).__name__})"
            ) from None
        try:
            with conn, conn.cursor() as cur:
                yield cur
        finally:
            conn.close()

    def ensure_tables(self) -> None:
        schema = self.settings.postgres_schema
        with self._cursor() as cur:
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.keys} ("
                " key_id text PRIMARY KEY, name text NOT NULL UNIQUE, scopes text[] NOT NULL,"
                " hash text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),"
                " revoked_at timestamptz)"
            )
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.sessions} ("
                " digest text PRIMARY KEY, key_id text NOT NULL, expires_at timestamptz NOT NULL)"
            )
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.codes} ("
                " digest text PRIMARY KEY, key_id text NOT NULL, expires_at timestamptz NOT NULL)"
            )

    # -- keys -------------------------------------------------------------------------------

    def create(
        self, name: str, scopes: Sequence[str], key: str | None = None
    ) -> tuple[ApiKey, str]:
        """A new key: (its record, the key itself: shown once, never stored). `key`: register
        this one (made by `new_key`, e.g. kept in a deployment's secret) instead."""
        wanted = check_scopes(scopes)
        if not name or len(name) > 64:
            raise KeyStoreError("a key's name must have 1 to 64 characters")
        key = key or new_key()
        parsed = parse_key(key)
        if parsed is None:
            raise KeyStoreError(
                "the key is not of the form cpk_<12 hex>_<43 characters>; make one with "
                "`credit-pipeline keys generate`"
            )
        key_id = parsed[0]
        self.ensure_tables()
        import psycopg2

        try:
            with self._cursor() as cur:
                cur.execute(
                    f"INSERT INTO {self.keys} (key_id, name, scopes, hash) VALUES (%s, %s, %s, %s)"
                    " RETURNING created_at",
                    (key_id, name, sorted(wanted), _hasher().hash(key)),
                )
                (created_at,) = cur.fetchone()
        except psycopg2.errors.UniqueViolation:
            raise KeyStoreError(f"a key named {name!r} (or with this id) exists already") from None
        return ApiKey(key_id, name, wanted, created_at, None), key

    def all(self) -> list[ApiKey]:
        self.ensure_tables()
        with self._cursor() as cur:
            cur.execute(
                f"SELECT key_id, name, scopes, created_at, revoked_at FROM {self.keys}"
                " ORDER BY created_at"
            )
            return [_record(row) for row in cur.fetchall()]

    def revoke(self, name: str) -> ApiKey:
        """Revoke a key by name; its sessions and login codes go with it."""
        self.ensure_tables()
        with self._cursor() as cur:
            cur.execute(
                f"UPDATE {self.keys} SET revoked_at = coalesce(revoked_at, now()) WHERE name = %s"
                " RETURNING key_id, name, scopes, created_at, revoked_at",
                (name,),
            )
            row = cur.fetchone()
            if row is None:
                raise KeyStoreError(f"no key named {name!r}")
            cur.execute(f"DELETE FROM {self.sessions} WHERE key_id = %s", (row[0],))
            cur.execute(f"DELETE FROM {self.codes} WHERE key_id = %s", (row[0],))
        return _record(row)

    def verify(self, presented: str) -> tuple[ApiKey | None, str]:
        """(the active key `presented` is, "") or (None, why not): a reason for the log that
        never quotes the key. Slow by design (argon2): callers cache the answer.
        """
        parsed = parse_key(presented)
        if parsed is None:
            return None, "malformed key"
        row = self._row(parsed[0])
        if row is None:
            return None, "unknown key"
        record, stored_hash = row
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            _hasher().verify(stored_hash, presented)
        except (VerificationError, InvalidHashError):
            return None, f"wrong secret for key {record.name!r}"
        if not record.active:
            return None, f"revoked key {record.name!r}"
        return record, ""

    def current(self, key_id: str) -> ApiKey | None:
        """A key's record as stored now (for re-checks of a cached key), None if deleted."""
        row = self._row(key_id)
        return None if row is None else row[0]

    def _one(self, query: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """The first row of `query`; None for none, or before any key was ever created."""
        import psycopg2

        try:
            with self._cursor() as cur:
                cur.execute(query, params)
                row: tuple[Any, ...] | None = cur.fetchone()
                return row
        except psycopg2.errors.UndefinedTable:
            return None

    def _row(self, key_id: str) -> tuple[ApiKey, str] | None:
        row = self._one(
            f"SELECT key_id, name, scopes, created_at, revoked_at, hash FROM {self.keys}"
            " WHERE key_id = %s",
            (key_id,),
        )
        return None if row is None else (_record(row[:5]), row[5])

    # -- sessions and one-time login codes ---------------------------------------------------

    def open_session(self, key: ApiKey) -> str:
        """A new session token for an active key (the cookie's value)."""
        token = secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + SESSION_TTL
        with self._cursor() as cur:
            cur.execute(f"DELETE FROM {self.sessions} WHERE expires_at < now()")
            cur.execute(
                f"INSERT INTO {self.sessions} (digest, key_id, expires_at) VALUES (%s, %s, %s)",
                (token_digest(token), key.key_id, expires),
            )
        return token

    def session_key(self, token: str) -> ApiKey | None:
        """The active key behind an unexpired session token, else None."""
        row = self._one(
            f"SELECT k.key_id, k.name, k.scopes, k.created_at, k.revoked_at"
            f" FROM {self.sessions} s JOIN {self.keys} k USING (key_id)"
            " WHERE s.digest = %s AND s.expires_at > now()",
            (token_digest(token),),
        )
        record = None if row is None else _record(row)
        return record if record is not None and record.active else None

    def close_session(self, token: str) -> None:
        with self._cursor() as cur:
            cur.execute(f"DELETE FROM {self.sessions} WHERE digest = %s", (token_digest(token),))

    def login_code(self, name: str) -> str:
        """A one-time code for a browser to open a session of key `name` (10 minutes)."""
        self.ensure_tables()
        code = secrets.token_urlsafe(32)
        with self._cursor() as cur:
            cur.execute(
                f"SELECT key_id FROM {self.keys} WHERE name = %s AND revoked_at IS NULL", (name,)
            )
            row = cur.fetchone()
            if row is None:
                raise KeyStoreError(f"no active key named {name!r}")
            cur.execute(
                f"INSERT INTO {self.codes} (digest, key_id, expires_at) VALUES (%s, %s, %s)",
                (token_digest(code), row[0], datetime.now(UTC) + LOGIN_CODE_TTL),
            )
        return code

    def redeem_login_code(self, code: str) -> ApiKey | None:
        """The active key a code was made for; the code is used up either way."""
        row = self._one(
            f"DELETE FROM {self.codes} WHERE digest = %s RETURNING key_id, expires_at",
            (token_digest(code),),
        )
        if row is None or row[1] <= datetime.now(UTC):
            return None
        record = self.current(row[0])
        return record if record is not None and record.active else None


def _record(row: Sequence[Any]) -> ApiKey:
    key_id, name, scopes, created_at, revoked_at = row
    return ApiKey(key_id, name, frozenset(scopes), created_at, revoked_at)
