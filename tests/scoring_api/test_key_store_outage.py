"""The key store (Postgres) hangs: keys this API process has verified keep working, a key it
has never seen gets 503 `auth_unavailable` in bounded time, and once Postgres answers again
the new key works; no restart. The outage is logged once at each end and shows as
`credit_api_store_up{store="key_store"}` 0, then 1. SIGSTOP on the session stack's Postgres,
resumed in `finally`."""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Iterator
from typing import Any

import anyio
import psutil
import pytest

from scoring_api.core.auth import PROBE_S
from tests.scoring_api.conftest import bearer, make_key
from tests.scoring_api.test_api_metrics import store_up

pytestmark = [pytest.mark.integration, pytest.mark.anyio, pytest.mark.local_stack_only]


@contextlib.contextmanager
def _postgres_hung(settings: Any) -> Iterator[None]:
    from local_stack import LocalStack

    pid = LocalStack(settings).pid_of("postgres")
    assert pid is not None
    server = psutil.Process(pid)
    processes = [server, *server.children(recursive=True)]
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGCONT)


async def test_a_hung_key_store_keeps_known_keys_and_refuses_unseen_ones(
    trained_stack: Any, api_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings = trained_stack.settings
    fresh = bearer(make_key(settings, ("live",)))  # created before the hang, not yet seen
    other = bearer(make_key(settings, ("live",)))
    async with api_client(settings, trained_stack.model_dir, ("live", "metrics")) as client:
        assert (await client.get("/live/contract")).status_code == 200  # verified, remembered
        assert store_up((await client.get("/metrics")).text, "key_store") == 1.0
        with caplog.at_level(logging.WARNING, logger="scoring_api.core.auth"):
            with _postgres_hung(settings):
                assert (await client.get("/live/contract")).status_code == 200
                started = time.monotonic()
                refused = await client.get("/live/contract", headers=fresh)
                waited = time.monotonic() - started
                assert refused.status_code == 503, refused.text
                assert refused.json()["error"]["code"] == "auth_unavailable"
                assert refused.headers["retry-after"] == "1"
                assert waited < 15  # libpq's connect timeout (5 s), not forever
                # The outage is known now: the next unseen key is refused without waiting.
                started = time.monotonic()
                assert (await client.get("/live/contract", headers=other)).status_code == 503
                assert time.monotonic() - started < waited / 2
                assert (await client.get("/live/contract")).status_code == 200
                assert store_up((await client.get("/metrics")).text, "key_store") == 0.0
            await anyio.sleep(PROBE_S)  # the next request is a probe again
            assert (await client.get("/live/contract", headers=fresh)).status_code == 200
            assert (await client.get("/live/contract", headers=other)).status_code == 200
            assert store_up((await client.get("/metrics")).text, "key_store") == 1.0
    lines = [r.getMessage() for r in caplog.records if "key store" in r.getMessage()]
    assert len(lines) == 2, lines
    assert lines[0].startswith("key store unreachable: cannot reach Postgres at ")
    assert lines[1].startswith("key store reachable again at ")
    assert lines[1].endswith("(checks failed: 1)")  # the second unseen key did not ask
