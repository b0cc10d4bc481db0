"""`credit-pipeline bench all --smoke`: every part runs on its own stack and every figure is there.

The full benchmarks are not part of the suite; this keeps their harness from rotting.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.settings import REPO_ROOT

pytestmark = pytest.mark.integration

SERVICES = ("kafka", "redis", "postgres")
CONSUMERS = ("processor-1w", "processor-2w", "push-batch-1000", "push-per-event", "consume-only")
SERVERS = ("scoring-api", "feast-serve", "api-no-decision-log", "api-feast-reader")
FLOOR = "api-healthz"  # the API's GET /healthz at the same fixed rate


@pytest.fixture(scope="module")
def smoke(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "credit_pipeline.cli", "bench", "all", "--smoke", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    return done, out


@pytest.fixture(scope="module")
def report(smoke: tuple[subprocess.CompletedProcess[str], Path]) -> dict[str, Any]:
    done, out = smoke
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr[-5000:]}"
    data: dict[str, Any] = json.loads((out / "bench-all-smoke.json").read_text())
    return data


@pytest.mark.timeout(900)
def test_verified_without_errors(report: dict[str, Any]) -> None:
    assert report["verified"] is True
    assert report["errors"] == []
    assert report["mode"] == "smoke"


@pytest.mark.timeout(900)
def test_ingestion_counts_verified_in_both_stores(report: dict[str, Any]) -> None:
    ingest = report["ingest"]
    assert set(ingest["median_events_per_s"]) == set(CONSUMERS)
    assert all(rate and rate > 0 for rate in ingest["median_events_per_s"].values())
    assert all(value and value > 0 for value in ingest["ratios"].values())
    for run in ingest["runs"]:
        assert run["verified"], run
        assert run["done"] == run["events"] > 0
        if run["consumer"] != "consume-only":  # writes nowhere: nothing to check online
            assert run["online_checked"] > 0
            assert run["online_matched"] == run["online_checked"]
        if run["consumer"].startswith("processor"):
            rows = run["offline_rows"]
            assert rows and all(found == expected > 0 for found, expected in rows.values())
            assert run["stages"]["batches"] > 0


@pytest.mark.timeout(900)
def test_freshness_at_both_rates_with_every_percentile(report: dict[str, Any]) -> None:
    fresh = report["freshness"]
    # `all` runs the fixed rate, then a quarter of the processor-1w rate it just measured.
    assert [run["label"] for run in fresh["runs"]] == ["fixed", "relative"]
    one_worker = report["ingest"]["median_events_per_s"]["processor-1w"]
    assert fresh["one_worker"]["events_per_s"] == one_worker
    assert fresh["runs"][1]["config"]["rate"] == 0.25 * one_worker
    for run in fresh["runs"]:
        assert run["missing"] == 0 and run["observed"] > 0
        assert run["processed"] == run["events"] > 0
        for latency in (run["latency_ms"], run["broker_floor"]["latency_ms"]):
            assert all(
                latency[k] is not None and latency[k] >= 0 for k in ("p50_ms", "p99_ms", "max_ms")
            )
        assert run["broker_floor"]["received"] > 0


@pytest.mark.timeout(900)
def test_scoring_answers_without_errors(report: dict[str, Any]) -> None:
    scoring = report["scoring"]
    assert set(scoring["medians"]) == {*SERVERS, FLOOR}
    for name, figures in scoring["medians"].items():
        assert figures["errors"] == 0
        assert all(figures[f"fixed_{k}"] is not None for k in ("p50_ms", "p95_ms", "p99_ms"))
        if name != FLOOR:
            assert figures["closed_rps"] and figures["closed_rps"] > 0
    assert all(value is not None for value in scoring["ratios"].values())
    # The API needs a key: every load run sent the benchmark's, so none got a 401 (or any error).
    for run in scoring["runs"]:
        assert run["requests"] > 0 and run["errors"] == 0, run


@pytest.mark.timeout(900)
def test_memory_goals_machine_and_markdown(
    report: dict[str, Any], smoke: tuple[subprocess.CompletedProcess[str], Path]
) -> None:
    assert all(report["memory"][name]["mb"] > 0 for name in (*SERVICES, *CONSUMERS, *SERVERS))
    assert len(report["goals"]) == 7 and all(g["value"] is not None for g in report["goals"])
    assert report["machine"]["logical_cores"] and report["machine"]["python"]
    assert set(report["machine"]["servers"]) == set(SERVICES)
    done, out = smoke
    markdown = (out / "bench-all-smoke.md").read_text()
    assert "## Figures" in markdown and "### Memory" in markdown
    assert "ratio processor-1w / push-batch-1000" in done.stdout
    # The benchmark's own stack was stopped and its temp dir removed.
    assert not Path(report["state_dir"]).exists()
