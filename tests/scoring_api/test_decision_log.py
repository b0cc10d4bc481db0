"""The decision log end to end: API -> Kafka (Tansu) -> stream processor -> Postgres, replay.

Real services throughout: the session stack's broker and Postgres, a real processor worker
(killed with SIGKILL half-way, then replaced), the API in-process with its lifespan.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import psutil
import psycopg2
import pytest
from confluent_kafka import Producer

from core.contract import CREDIT_HISTORY, MASK
from core.decision_log import TABLE, DecisionLogStore
from core.events import new_event, topic_name
from core.settings import Settings
from core.topics import ensure_topics
from scoring_api.decisions_cli import replay_report
from scoring_api.service.decision_log import OUTAGE_AFTER_S
from scoring_api.service.replay import Replayer
from training.consistency import consistency_report, format_report

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

PATH = "/v1/loan-decisions"


@pytest.fixture
def log_settings(trained_stack: Any) -> Settings:
    """Own topics and consumer group (so the decision topic holds only this test's records)."""
    tag = uuid.uuid4().hex[:10]
    settings: Settings = trained_stack.settings.model_copy(
        update={"topic_prefix": f"dl{tag}-", "consumer_group": f"dl{tag}", "metrics_port": 0}
    )
    ensure_topics(settings)
    return settings


def logged_rows(settings: Settings, request_ids: list[str]) -> list[tuple[str, int, float]]:
    """(request id, rows under it, p_default) for each logged id among `request_ids`."""
    query = (
        f'SELECT request_id, count(*), min(p_default) FROM "{settings.postgres_schema}".{TABLE} '
        "WHERE request_id = ANY(%s) GROUP BY request_id"
    )
    with psycopg2.connect(**settings.postgres_connect_kwargs()) as conn, conn.cursor() as cur:
        cur.execute(query, (request_ids,))
        return list(cur.fetchall())


def wait_logged(
    settings: Settings, request_ids: list[str], timeout: float, log_path: Path | None = None
) -> list[tuple[str, int, float]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = logged_rows(settings, request_ids)
        if len(rows) >= len(request_ids) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if len(rows) < len(request_ids):
        tail = log_path.read_text()[-3000:] if log_path else ""
        pytest.fail(f"{len(rows)} of {len(request_ids)} decisions logged after {timeout} s\n{tail}")
    return rows


async def decide_all(
    client: Any, apps: list[dict[str, Any]], ids: list[str]
) -> dict[str, dict[str, Any]]:
    answers = {}
    for application, rid in zip(apps, ids, strict=True):
        response = await client.post(PATH, json=application, headers={"X-Request-ID": rid})
        assert response.status_code in (200, 422), response.text
        if response.status_code == 200:
            answers[rid] = response.json()
    return answers


async def test_every_decision_is_logged_once_across_a_killed_processor_and_replays_exactly(
    trained_stack: Any,
    api_client: Any,
    log_settings: Settings,
    start_processor: Callable[..., Any],
    tmp_path: Path,
) -> None:
    apps = trained_stack.loan_applications(250)
    tag = log_settings.consumer_group
    # The first worker commits no offset before it is killed: everything it appended is
    # delivered again to the second one, which must not append it twice.
    first = start_processor(log_settings, tmp_path / "processor-1.log", "--commit-interval", "600")
    try:
        async with api_client(log_settings, trained_stack.model_dir) as client:
            # A stream first: new credit reports reach both stores through Kafka and the
            # processor, so the decisions read values the history never had.
            await stream_reports(client, log_settings, apps[:20], tag)
            ids = [f"{tag}-{i}" for i in range(1_000)]
            answers = await decide_all(client, (apps * 4)[:500], ids[:500])
            wait_logged(log_settings, ids[:50], 120, first.log_path)
            first.stop(0)  # SIGKILL
            answers |= await decide_all(client, (apps * 4)[500:], ids[500:])
    finally:
        first.stop(0)
    second = start_processor(log_settings, tmp_path / "processor-2.log")
    try:
        decided = sorted(answers)
        assert len(decided) == len(ids), "every application of the history is decided"
        rows = wait_logged(log_settings, decided, 180, second.log_path)
    finally:
        second.stop(30)

    print(f"decision log: {len(decided)} of {len(ids)} requests decided, all logged")  # noqa: T201
    # Exactly once: every answered decision, one row each, and nothing else under our ids.
    assert sorted(rid for rid, _, _ in rows) == decided
    assert all(count == 1 for _, count, _ in rows)
    assert logged_rows(log_settings, [i for i in ids if i not in answers]) == []
    # The logged probability is the one the caller got, to the bit.
    assert {rid: p for rid, _, p in rows} == {
        rid: body["probability_of_default"] for rid, body in answers.items()
    }

    with DecisionLogStore(log_settings) as store:
        logged = [d for rid in decided for d in store.get(rid)]
    record = logged[0].record
    body = answers[logged[0].request_id]
    assert record["decision"] == body["decision"]
    assert [r["phrase"] for r in record["reasons"]] == [r["phrase"] for r in body["reasons"]]
    assert record["features"].keys() == body["features"].keys()

    replays = Replayer(trained_stack.model_dir).replay_all(logged)
    report = replay_report(replays, 1.0, against=None)
    assert report["replayed"] == len(decided)
    assert report["identical"] == len(decided), report["examples"]

    # The live page's panel: the newest decisions, keys masked; reasons need features:read.
    newest = max(logged, key=lambda d: d.decided_at)
    for scopes, with_reasons in ((("live",), False), (("live", "features:read"), True)):
        async with api_client(log_settings, trained_stack.model_dir, scopes) as client:
            listed = (await client.get("/live/decisions", params={"limit": 100})).json()
        entry = next(d for d in listed["decisions"] if d["request_id"] == newest.request_id)
        assert entry["applicant"]["dob_ssn"] == MASK
        assert entry["probability_of_default"] == newest.p_default
        assert (entry["reasons"] is not None) is with_reasons
    async with api_client(log_settings, trained_stack.model_dir, ("score",)) as client:
        assert (await client.get("/live/decisions")).status_code == 403

    # What was served equals what training's point-in-time join reads at each decision's time.
    consistency = consistency_report(log_settings, request_ids=decided)
    assert consistency.decisions == len(decided)
    assert consistency.compared > 0
    assert consistency.mismatches == 0, format_report(consistency)
    streamed = {a["dob_ssn"] for a in apps[:20]}
    assert any(
        d.record["application"]["dob_ssn"] in streamed
        and d.record["features"][CREDIT_HISTORY.name]["values"]["hard_pulls"] == STREAMED_PULLS
        for d in logged
    ), "no decision read a streamed report"


# hard_pulls of the streamed reports (the history's Poisson draws stay far below).
STREAMED_PULLS = 41


async def stream_reports(
    client: Any, settings: Settings, apps: list[dict[str, Any]], tag: str
) -> None:
    """Publish a new credit report for each applicant; return once the API reads them all."""
    at = datetime.now(UTC) - timedelta(seconds=1)
    report = {c.name: 1 for c in CREDIT_HISTORY.features} | {"hard_pulls": STREAMED_PULLS}
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for application in apps:
        event = new_event(
            CREDIT_HISTORY, {"dob_ssn": application["dob_ssn"], **report}, event_timestamp=at
        )
        producer.produce(
            topic_name(CREDIT_HISTORY, settings.topic_prefix), event.encode(), key=event.key
        )
    assert producer.flush(30) == 0
    # Polled with their own request ids: a decision taken before the report arrived would
    # (rightly) disagree with the offline store, which has it at that time.
    deadline = time.monotonic() + 120
    pending = list(apps)
    poll = 0
    while pending and time.monotonic() < deadline:
        poll += 1
        body = (
            await client.post(PATH, json=pending[0], headers={"X-Request-ID": f"{tag}-poll-{poll}"})
        ).json()
        if body["features"][CREDIT_HISTORY.name]["values"]["hard_pulls"] == STREAMED_PULLS:
            pending.pop(0)
        else:
            await anyio.sleep(0.2)
    assert not pending, f"{len(pending)} streamed reports never reached the API"


@contextmanager
def broker_hung(settings: Settings) -> Iterator[None]:
    """SIGSTOP every process of the session stack's broker: it neither answers nor refuses."""
    from local_stack import LocalStack

    pid = LocalStack(settings).pid_of("kafka")
    assert pid is not None, "the session stack's broker is not running"
    processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for process in processes:
        process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for process in processes:
            process.send_signal(signal.SIGCONT)


async def test_a_hung_broker_fills_the_buffer_then_decisions_get_503_and_none_is_lost(
    trained_stack: Any,
    api_client: Any,
    log_settings: Settings,
    start_processor: Callable[..., Any],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = log_settings.model_copy(update={"decision_log_buffer": 5})
    apps = trained_stack.loan_applications(20)
    tag = settings.consumer_group
    worker = start_processor(settings, tmp_path / "processor.log")
    try:
        async with api_client(settings, trained_stack.model_dir) as client:
            before = await decide_all(client, apps[:2], [f"{tag}-before-{i}" for i in range(2)])
            wait_logged(settings, sorted(before), 120, worker.log_path)

            with broker_hung(settings):
                buffered: list[str] = []
                refused = None
                for i, application in enumerate(apps[2:]):
                    rid = f"{tag}-hung-{i}"
                    response = await client.post(
                        PATH, json=application, headers={"X-Request-ID": rid}
                    )
                    if response.status_code == 503:
                        refused = (rid, response)
                        break
                    if response.status_code == 200:
                        buffered.append(rid)
                assert refused is not None, "the buffer never filled"
                rid, response = refused
                assert len(buffered) == 5
                error = response.json()["error"]
                assert error["code"] == "decision_log_unavailable"
                assert response.headers["Retry-After"]
                ready = await client.get("/readyz")
                assert ready.status_code == 503
                checks = {d["check"]: d for d in ready.json()["error"]["details"]}
                assert checks["decision_log"]["ok"] is False
                assert "buffer full (5 decisions waiting" in checks["decision_log"]["detail"]
                await anyio.sleep(OUTAGE_AFTER_S + 1)  # the publisher's poller sees the outage
            # The broker is back: the buffered decisions reach the log, the refused one never.
            rows = wait_logged(settings, buffered, 180, worker.log_path)
            assert sorted(r for r, _, _ in rows) == sorted(buffered)
            assert logged_rows(settings, [rid]) == []
            after = await client.post(PATH, json=apps[2], headers={"X-Request-ID": f"{tag}-a"})
            assert after.status_code == 200
            ready = (await client.get("/readyz")).json()
            assert ready["checks"]["decision_log"]["ok"] is True
            assert "1 refused" in ready["checks"]["decision_log"]["detail"]
    finally:
        worker.stop(30)
    messages = [r.getMessage() for r in caplog.records]
    assert any("decision log buffer full" in m for m in messages), messages
    assert any("nothing delivered to the broker" in m for m in messages), messages
    assert any("delivering again" in m for m in messages), messages
