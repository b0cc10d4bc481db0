"""`credit-pipeline bench freshness`: the broker floor beside the processor, both rates, and
`--stack external` on services the bench neither starts nor stops."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from core.console import Progress
from core.contract import LOAN_TABLE, VIEWS
from core.kafka_clients import client_config
from core.offline_store import PostgresOfflineWriter
from core.settings import REPO_ROOT, Settings, settings_env

pytestmark = pytest.mark.integration

SERVICES = ("kafka", "redis", "postgres")
PERCENTILES = ("p50_ms", "p99_ms", "max_ms")


def _bench(out: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "credit_pipeline.cli", "bench", "freshness", "--smoke"]
        + ["--seconds", "3", "--out", str(out), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr[-5000:]}"
    report: dict[str, Any] = json.loads((out / "bench-freshness-smoke.json").read_text())
    report["stderr"] = done.stderr
    return report


def _sane(latency: dict[str, float | None]) -> bool:
    return all((v := latency[k]) is not None and 0 <= v < float("inf") for k in PERCENTILES)


@pytest.mark.timeout(660)
def test_broker_floor_beside_both_rates(tmp_path: Path) -> None:
    report = _bench(tmp_path, "--relative-rate", "0.25")
    assert report["verified"] is True and report["errors"] == []
    fresh = report["freshness"]
    assert [run["label"] for run in fresh["runs"]] == ["fixed", "relative"]
    assert fresh["one_worker"]["events_per_s"] > 0  # measured by a short processor-1w run
    for run in fresh["runs"]:
        floor = run["broker_floor"]
        assert 0 < floor["received"] <= floor["produced"] == run["events"]
        assert _sane(floor["latency_ms"]) and _sane(run["latency_ms"])
        assert run["floor_gap_p99_ms"] == (
            run["latency_ms"]["p99_ms"] - floor["latency_ms"]["p99_ms"]
        )
        assert run["cores"]["broker-floor"] >= 0 and "kafka" in run["cores"]
    assert set(SERVICES) <= set(report["memory"])
    assert not Path(report["state_dir"]).exists()


def _counts(settings: Settings) -> dict[str, int]:
    with PostgresOfflineWriter(settings) as writer:
        return {table: writer.count(table) for table in (*(v.table for v in VIEWS), LOAN_TABLE)}


@pytest.mark.timeout(660)
def test_external_stack_is_used_as_it_is(private_stack_settings: Settings, tmp_path: Path) -> None:
    from credit_pipeline.init_store import run_init
    from history import generate_history

    settings = private_stack_settings
    # The user's data: a small history the bench must leave in place.
    run_init(
        settings,
        generate_history(persons=200, zipcodes=50),
        Progress(total=3, stream=io.StringIO()),
    )
    before = _counts(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_")}
    env.update(settings_env(settings))

    report = _bench(tmp_path, "--stack", "external", env=env)

    assert report["verified"] is True and report["stack"] == "external"
    assert "external stack: Kafka" in report["stderr"] and "stack up in" not in report["stderr"]
    # It started no servers of its own: none measured, none versioned.
    assert report["machine"]["servers"] == {}
    assert not set(SERVICES) & set(report["memory"])
    (run,) = report["freshness"]["runs"]
    assert not set(SERVICES) & set(run["cores"])
    assert run["broker_floor"]["received"] > 0 and _sane(run["broker_floor"]["latency_ms"])
    # Its topics are on the given broker; its events went to the given Postgres, beside the
    # rows that were there (nothing deleted, no history loaded).
    topics = AdminClient(client_config(settings, "test")).list_topics(timeout=10).topics
    assert any(name.startswith("freshness-fixed-") for name in topics)
    after = _counts(settings)
    assert after[LOAN_TABLE] == before[LOAN_TABLE]
    written = run["events"] + run["config"]["warmup_events"]
    assert sum(after.values()) - sum(before.values()) == written
