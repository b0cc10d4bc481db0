"""`credit-pipeline keys`: create prints the key once, Postgres keeps only its argon2id hash,
list shows no secret, revoke ends it; real Postgres of the session stack."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg2
import pytest

from core.api_keys import KeyStore
from core.settings import settings_env
from credit_pipeline.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(stack_settings: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Any:
    for name, value in settings_env(stack_settings).items():
        monkeypatch.setenv(name, value)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["keys", *argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_a_key_is_shown_once_stored_hashed_listed_without_secret_and_revoked(
    cli: Any, stack_settings: Any
) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    code, out, _ = cli("create", "--name", name, "--scopes", "score,live")
    assert code == 0
    key = out.splitlines()[0]
    assert key.startswith("cpk_") and "not shown again" in out
    store = KeyStore(stack_settings)
    record, reason = store.verify(key)
    assert record is not None and record.scopes == {"score", "live"}, reason

    with psycopg2.connect(**stack_settings.postgres_connect_kwargs()) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT hash FROM {store.keys} WHERE name = %s", (name,))
        (stored,) = cur.fetchone()
    assert stored.startswith("$argon2id$") and key.split("_", 2)[2] not in stored

    code, listing, _ = cli("list")
    assert code == 0 and name in listing and "live,score" in listing and key not in listing
    assert key.split("_", 2)[2] not in listing

    code, out, _ = cli("revoke", "--name", name)
    assert code == 0 and "revoked" in out
    assert store.verify(key) == (None, f"revoked key {name!r}")
    _, listing, _ = cli("list")
    row = next(line for line in listing.splitlines() if line.startswith(name))
    assert "revoked" in row


def test_bad_requests_are_refused_with_reasons(cli: Any) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    code, _, err = cli("create", "--name", name, "--scopes", "score,admin")
    assert code == 1 and "unknown scope(s) admin" in err
    assert cli("create", "--name", name, "--scopes", "live")[0] == 0
    code, _, err = cli("create", "--name", name, "--scopes", "live")
    assert code == 1 and "exists already" in err
    code, _, err = cli("revoke", "--name", f"{name}-nope")
    assert code == 1 and "no key named" in err
    code, out, _ = cli("login-link", "--name", name)
    assert code == 0 and "/#code=" in out


def test_a_configured_key_is_registered_once_as_a_deployment_does_it(
    cli: Any, stack_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"deploy-{uuid.uuid4().hex[:8]}"
    monkeypatch.delenv("CREDIT_API_KEY", raising=False)
    code, out, _ = cli("create", "--name", name, "--scopes", "score", "--configured")
    assert code == 0 and "none registered" in out

    code, generated, _ = cli("generate")
    key = generated.strip()
    assert code == 0 and key.startswith("cpk_")
    assert KeyStore(stack_settings).verify(key)[0] is None  # generated, not registered

    monkeypatch.setenv("CREDIT_API_KEY", key)
    code, out, _ = cli("create", "--name", name, "--scopes", "score", "--configured")
    assert code == 0 and "registered the configured key" in out and key not in out
    record, _ = KeyStore(stack_settings).verify(key)
    assert record is not None and record.name == name
    code, out, _ = cli("create", "--name", name, "--scopes", "score", "--configured")
    assert code == 0 and "registered already" in out  # every `docker compose up` runs it

    monkeypatch.setenv("CREDIT_API_KEY", "cpk_000000000000_" + "x" * 43)
    code, _, err = cli("create", "--name", name, "--scopes", "score", "--configured")
    assert code == 1 and "another secret" in err
    monkeypatch.setenv("CREDIT_API_KEY", "not-a-key")
    code, _, err = cli("create", "--name", f"{name}-2", "--scopes", "score", "--configured")
    assert code == 1 and "keys generate" in err and "not-a-key" not in err
