"""GET /metrics of the scoring API: who may read it, what it counts, and store outages showing
as `credit_api_store_up` 0 and back to 1 with one log line at each end; under `serve --workers
2` one scrape answers for both workers. Real stack throughout (outages: SIGSTOP/SIGCONT)."""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.ports import free_port
from core.settings import Settings
from core.topics import ensure_topics
from credit_pipeline.demo_setup import answers
from scoring_api.main import create_app
from scoring_api.service.decision_log import OUTAGE_AFTER_S
from scoring_api.service.metrics import forget_dead_workers
from tests.scoring_api.conftest import BASE_URL, bearer, make_key
from tests.scoring_api.test_decision_log import broker_hung

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

PATH = "/v1/loan-decisions"


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample called `name`, by its labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = float(sample.value)
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    """The sample `name` with exactly `labels`, or None when absent."""
    return samples(text, name).get(tuple(sorted(labels.items())))


def store_up(text: str, store: str) -> float | None:
    return value(text, "credit_api_store_up", store=store)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def metrics_settings(trained_stack: Any) -> Settings:
    """Topics of our own: the decision topic holds only this module's records."""
    tag = uuid.uuid4().hex[:10]
    settings: Settings = trained_stack.settings.model_copy(
        update={"topic_prefix": f"am{tag}-", "metrics_port": 0}
    )
    ensure_topics(settings)
    return settings


@contextlib.asynccontextmanager
async def _started(settings: Settings, model_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An app with its lifespan, called over ASGI with no credentials of its own."""
    app = create_app(settings, model_dir=model_dir)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield client


@pytest.fixture(scope="module")
async def anon(metrics_settings: Settings, trained_stack: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with _started(metrics_settings, trained_stack.model_dir) as client:
        yield client


@pytest.fixture(scope="module")
def keys(metrics_settings: Settings) -> dict[str, dict[str, str]]:
    return {scope: bearer(make_key(metrics_settings, (scope,))) for scope in ("metrics", "score")}


async def scrape(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    return response.text


async def test_metrics_need_a_key_with_the_metrics_scope(
    anon: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    missing = await anon.get("/metrics")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthenticated"
    refused = await anon.get("/metrics", headers=keys["score"])
    assert refused.status_code == 403
    assert refused.json()["error"]["details"] == [{"required_scopes": ["metrics"]}]

    allowed = await anon.get("/metrics", headers=keys["metrics"])
    assert allowed.status_code == 200
    assert allowed.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert allowed.headers["cache-control"] == "no-store"
    text = allowed.text
    for store in ("decision_log", "key_store", "online_store"):
        assert store_up(text, store) == 1.0, store
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("credit_api_"), family.name
        assert family.documentation, family.name


async def test_decisions_are_counted_by_outcome_and_their_records_delivered(
    anon: httpx.AsyncClient, keys: dict[str, dict[str, str]], trained_stack: Any
) -> None:
    before = await scrape(anon, keys["metrics"])
    decided: Counter[str] = Counter()
    for application in trained_stack.loan_applications(30):
        response = await anon.post(PATH, json=application, headers=keys["score"])
        assert response.status_code in (200, 422), response.text
        if response.status_code == 200:
            decided[response.json()["decision"]] += 1
    assert sum(decided.values()) >= 20

    after = await scrape(anon, keys["metrics"])
    for outcome in ("approved", "rejected"):
        grown = value(after, "credit_api_decisions_total", decision=outcome) or 0.0
        assert (
            grown - (value(before, "credit_api_decisions_total", decision=outcome) or 0.0)
            == (decided[outcome])
        ), outcome
    assert sum(samples(after, "credit_api_decisions_total").values()) == sum(decided.values())

    # The broker acknowledges every record: delivered grows by as many, nothing waits.
    deadline = time.monotonic() + 60
    while True:
        text = await scrape(anon, keys["metrics"])
        delivered = value(text, "credit_api_decision_log_records_total", outcome="delivered")
        if delivered == sum(decided.values()) or time.monotonic() > deadline:
            break
        await anyio.sleep(0.1)
    assert delivered == sum(decided.values())
    assert value(text, "credit_api_decision_log_records_total", outcome="refused") == 0
    assert value(text, "credit_api_decision_log_records_total", outcome="failed") == 0
    assert value(text, "credit_api_decision_log_waiting") == 0
    assert store_up(text, "decision_log") == 1.0


@pytest.mark.local_stack_only
async def test_a_hung_broker_shows_as_decision_log_down_then_up(
    metrics_settings: Settings,
    trained_stack: Any,
    keys: dict[str, dict[str, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    apps = trained_stack.loan_applications(10)
    async with _started(metrics_settings, trained_stack.model_dir) as client:
        with caplog.at_level(logging.WARNING, logger="scoring_api.service.decision_log"):
            with broker_hung(metrics_settings):
                decided = 0
                for application in apps:
                    response = await client.post(PATH, json=application, headers=keys["score"])
                    decided += response.status_code == 200
                assert decided > 0
                # The publisher's poller calls it an outage once records wait this long.
                await anyio.sleep(OUTAGE_AFTER_S + 1)
                during = await scrape(client, keys["metrics"])
                assert store_up(during, "decision_log") == 0.0
                assert value(during, "credit_api_decision_log_waiting") == decided
                assert store_up(during, "key_store") == 1.0  # the others are not affected
                assert store_up(during, "online_store") == 1.0
            deadline = time.monotonic() + 60
            while True:
                text = await scrape(client, keys["metrics"])
                if store_up(text, "decision_log") == 1.0 or time.monotonic() > deadline:
                    break
                await anyio.sleep(0.1)
            assert store_up(text, "decision_log") == 1.0
            delivered = value(text, "credit_api_decision_log_records_total", outcome="delivered")
            assert delivered is not None and delivered >= 1
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("decision log:")]
    assert len([m for m in lines if "nothing delivered to the broker" in m]) == 1, lines
    assert len([m for m in lines if "delivering again" in m]) == 1, lines


@contextlib.contextmanager
def _valkey_hung(settings: Settings) -> Iterator[None]:
    """SIGSTOP the session stack's Valkey: it neither answers nor refuses."""
    from local_stack import LocalStack

    pid = LocalStack(settings).pid_of("redis")
    assert pid is not None, "the session stack's Valkey is not running"
    server = psutil.Process(pid)
    server.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        server.send_signal(signal.SIGCONT)


@pytest.mark.local_stack_only
async def test_a_hung_online_store_is_logged_once_at_each_end_and_shown_down_then_up(
    metrics_settings: Settings,
    trained_stack: Any,
    keys: dict[str, dict[str, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    application = trained_stack.latest_loan_application()
    async with _started(metrics_settings, trained_stack.model_dir) as client:
        assert (await client.post(PATH, json=application, headers=keys["score"])).status_code == 200
        with caplog.at_level(logging.WARNING, logger="scoring_api.service.features"):
            with _valkey_hung(metrics_settings):
                for _ in range(5):  # every one fails; only the first is logged
                    down = await client.post(PATH, json=application, headers=keys["score"])
                    assert down.status_code == 503, down.text
                    assert down.json()["error"]["code"] == "online_store_unavailable"
                during = await scrape(client, keys["metrics"])
                assert store_up(during, "online_store") == 0.0
            statuses = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                response = await client.post(PATH, json=application, headers=keys["score"])
                statuses.append(response.status_code)
                if statuses[-1] == 200:
                    break
                await anyio.sleep(0.1)
            assert statuses[-1] == 200, statuses
            after = await scrape(client, keys["metrics"])
            assert store_up(after, "online_store") == 1.0
    lines = [r.getMessage() for r in caplog.records if "online store" in r.getMessage()]
    assert len(lines) == 2, lines
    address = metrics_settings.redis_address
    assert lines[0] == (
        f"online store unreachable at {address}: no answer within "
        f"{metrics_settings.online_timeout_ms} ms; decisions get 503 online_store_unavailable "
        "until it answers"
    )
    failed = 5 + len(statuses) - 1
    assert re.fullmatch(
        rf"online store reachable again at {re.escape(address)} after [0-9.]+ s "
        rf"\({failed} failed calls\)",
        lines[1],
    ), lines[1]
    assert application["dob_ssn"] not in "\n".join(lines)


# -- several workers ---------------------------------------------------------------------------


def _scrape_over_http(url: str, headers: dict[str, str]) -> str:
    """One scrape on a new connection (so any worker may answer it)."""
    for _ in range(50):
        try:
            response = httpx.get(url + "/metrics", headers=headers, timeout=10)
        except httpx.TransportError:  # a worker killed with this connection accepted
            time.sleep(0.1)
            continue
        assert response.status_code == 200, response.text
        return response.text
    raise AssertionError("no worker answered /metrics")


@pytest.fixture
def two_workers(
    metrics_settings: Settings,
    trained_stack: Any,
    tmp_path: Path,
    start_python: Callable[..., Any],
) -> Iterator[tuple[Settings, Any]]:
    """`credit-pipeline serve --workers 2` in its own process, ready."""
    settings = metrics_settings.model_copy(
        update={"api_port": free_port("127.0.0.1"), "model_dir": trained_stack.model_dir}
    )
    server = start_python(
        settings, tmp_path / "api.log", "-m", "credit_pipeline.cli", "serve", "--workers", "2"
    )
    try:
        ready = settings.api_url + "/readyz"
        server.wait_for(lambda: answers(ready), 180, "the API to be ready", interval=0.25)
        yield settings, server
    finally:
        server.child.stop(30)


def _shared_dir(log: str) -> Path:
    found = re.search(r"metrics of 2 workers shared through (\S+)", log)
    assert found, log[-3000:]
    return Path(found.group(1))


def test_one_scrape_answers_for_every_worker_of_serve(
    two_workers: tuple[Settings, Any], trained_stack: Any, keys: dict[str, dict[str, str]]
) -> None:
    settings, server = two_workers
    url = settings.api_url
    shared = _shared_dir(server.log)

    def worker_pids() -> list[int]:
        return sorted(int(f.stem.rpartition("_")[2]) for f in shared.glob("counter_*.db"))

    # Both workers keep their values there (the second may still be starting: /readyz
    # answered for the first).
    server.wait_for(lambda: len(worker_pids()) == 2, 120, "both workers' metric files")
    decided: Counter[str] = Counter()
    for application in trained_stack.loan_applications(40, start=100):
        # A new connection each: the kernel hands them to either worker.
        response = httpx.post(url + PATH, json=application, headers=keys["score"], timeout=10)
        assert response.status_code in (200, 422), response.text
        if response.status_code == 200:
            decided[response.json()["decision"]] += 1
    total = sum(decided.values())
    assert total >= 20

    for _ in range(6):  # whichever worker answers, it answers for both
        text = _scrape_over_http(url, keys["metrics"])
        assert sum(samples(text, "credit_api_decisions_total").values()) == total
        for outcome in ("approved", "rejected"):
            assert value(text, "credit_api_decisions_total", decision=outcome) == decided[outcome]
        assert store_up(text, "online_store") == 1.0
        assert store_up(text, "key_store") == 1.0

    # A killed worker's decisions stay counted; its gauges leave the merge (uvicorn starts a
    # new worker, with a new pid).
    killed = worker_pids()[0]
    psutil.Process(killed).send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 30
    while psutil.pid_exists(killed) and time.monotonic() < deadline:
        time.sleep(0.1)
    text = _scrape_over_http(url, keys["metrics"])
    assert sum(samples(text, "credit_api_decisions_total").values()) == total
    assert not list(shared.glob(f"gauge_live*_{killed}.db"))
    assert store_up(text, "online_store") == 1.0

    server.child.stop(30)
    assert not shared.exists(), "serve removes the shared directory when it stops"


def test_dead_workers_gauges_are_dropped_and_live_ones_kept(tmp_path: Path) -> None:
    from prometheus_client.mmap_dict import MmapedDict

    dead = psutil.Popen(["true"])
    dead.wait()
    for pid in (dead.pid, psutil.Process().pid):
        for name in (f"gauge_livemin_{pid}.db", f"counter_{pid}.db"):
            MmapedDict(str(tmp_path / name)).close()
    forget_dead_workers(str(tmp_path))
    assert sorted(f.name for f in tmp_path.iterdir()) == sorted(
        [
            f"counter_{dead.pid}.db",
            f"counter_{psutil.Process().pid}.db",
            f"gauge_livemin_{psutil.Process().pid}.db",
        ]
    )
