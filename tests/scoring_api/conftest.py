"""Fixtures of the API tests: a history in the session stack and a model trained on it."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import psycopg2
import pytest
import uvicorn

from core.api_keys import SCOPES, KeyStore
from core.contract import ENTITY_KEYS, EVENT_TIMESTAMP, LOAN_REQUEST_COLUMNS, ZIPCODE_FEATURES
from core.model.columns import LOAN_ID
from core.settings import Settings
from credit_pipeline.init_store import run_init
from history import History, generate_history
from scoring_api.main import create_app
from training.train import TrainingResult, train_model

SEED = 202
# Other modules load histories whose loan ids start at the same number; ours are moved away.
LOAN_ID_OFFSET = 800_000_000


@dataclass(frozen=True)
class TrainedStack:
    """The session stack with our history loaded and a model trained on it."""

    settings: Settings
    history: History
    training: TrainingResult

    @property
    def model_dir(self) -> Path:
        return self.training.path.parent

    def latest_loan_application(self) -> dict[str, Any]:
        """The request fields and keys of our most recent loan, as plain JSON values."""
        loan = self.history.loans.sort_values(EVENT_TIMESTAMP).iloc[-1]
        names = [*ENTITY_KEYS, *(c.name for c in LOAN_REQUEST_COLUMNS)]
        return {name: _plain(loan[name]) for name in names}

    def loan_applications(
        self, count: int, *, start: int = 0, newest_first: bool = True
    ) -> list[dict[str, Any]]:
        """`count` loans of our history from position `start` (newest or oldest first), as
        applications: request fields and keys, plain JSON values."""
        loans = self.history.loans.sort_values(EVENT_TIMESTAMP, ascending=not newest_first)
        names = [*ENTITY_KEYS, *(c.name for c in LOAN_REQUEST_COLUMNS)]
        rows = loans.iloc[start : start + count]
        return [{name: _plain(row[name]) for name in names} for _, row in rows.iterrows()]

    def offline_rows(self, table: str, key: str, value: object) -> pd.DataFrame:
        """Rows of an offline table for one entity, oldest first."""
        query = (
            f'SELECT * FROM "{self.settings.postgres_schema}"."{table}" '
            f'WHERE "{key}" = %s ORDER BY {EVENT_TIMESTAMP}, created_timestamp'
        )
        connect = self.settings.postgres_connect_kwargs()
        with psycopg2.connect(**connect) as conn, conn.cursor() as cur:
            cur.execute(query, (value,))
            columns = [d.name for d in cur.description]
            return pd.DataFrame(cur.fetchall(), columns=columns)


def _plain(value: Any) -> Any:
    """A numpy scalar as a Python value; NaN as None (JSON has no NaN)."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value


@pytest.fixture(scope="session")
def trained_stack(
    stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> TrainedStack:
    generated = generate_history(persons=3_000, zipcodes=500, seed=SEED)
    loans = generated.loans.assign(**{LOAN_ID: generated.loans[LOAN_ID] + LOAN_ID_OFFSET})
    history = History(generated.zipcodes, generated.credit_history, loans)
    run_init(stack_settings, history)
    training = train_model(stack_settings, model_dir=tmp_path_factory.mktemp("api-models"))
    return TrainedStack(stack_settings, history, training)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """One asyncio loop for the session, so module-scoped async fixtures work."""
    return "asyncio"


ApiClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


ALL_SCOPES = tuple(SCOPES)
# The ASGI test clients' base URL: a loopback name, as the API's default trusted hosts allow.
BASE_URL = "http://127.0.0.1"


def make_key(settings: Settings, scopes: tuple[str, ...] = ALL_SCOPES) -> str:
    """A new API key with `scopes` in the stack of `settings`."""
    return KeyStore(settings).create(f"test-{uuid.uuid4().hex[:12]}", scopes)[1]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def served_in_thread(app: Any) -> Iterator[str]:
    """`app` under uvicorn on a free loopback port (a thread), as `serve` runs it; its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@asynccontextmanager
async def _api_client(
    settings: Settings, model_dir: Path, scopes: tuple[str, ...] = ALL_SCOPES
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan run (model, store, Redis client), called over ASGI with a
    key of `scopes` (all by default)."""
    app = create_app(settings, model_dir=model_dir)
    headers = bearer(make_key(settings, scopes))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE_URL, headers=headers
        ) as client:
            yield client


@pytest.fixture(scope="session")
def api_client() -> ApiClient:
    """`async with api_client(settings, model_dir) as client:` an app with its lifespan."""
    return _api_client


@pytest.fixture(scope="session")
def unused_zipcode(trained_stack: Any) -> int:
    """A valid zipcode with no row in the history or the offline store (so none online)."""
    used = set(trained_stack.history.zipcodes["zipcode"])
    for zipcode in range(99_999, 0, -1):
        if (
            zipcode not in used
            and trained_stack.offline_rows(ZIPCODE_FEATURES.table, "zipcode", zipcode).empty
        ):
            return zipcode
    raise AssertionError("no unused zipcode")
