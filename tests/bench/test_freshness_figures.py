"""The freshness part's pure figures: broker floor, the two rates, goals and the report rows."""

from __future__ import annotations

import argparse
from typing import Any

from bench.cli import add_bench_commands, sizes_from_args
from bench.config import FreshnessConfig
from bench.freshness_figures import FreshnessResult, floor_summary, windows
from bench.freshness_part import OneWorker, from_ingest, part_json, planned_rates
from bench.goals import evaluate
from bench.report import render_markdown, render_table

SINCE = 1_700_000_000_000_000  # microseconds since the epoch


def _result(p99: float | None = 40.0, label: str = "fixed") -> FreshnessResult:
    return FreshnessResult(
        config={
            "rate": 1000.0,
            "seconds": 5.0,
            "updates_per_entity_s": 1.0,
            "poll_interval_ms": 5.0,
        },
        events=5_000,
        achieved_rate=999.0,
        processed=5_000,
        sampled_entities=40,
        sampled_events=200,
        observed=190,
        superseded=10,
        missing=0,
        latency_ms={"count": 190.0, "p50_ms": 20.0, "p95_ms": 35.0, "p99_ms": p99, "max_ms": 60.0},
        poll_ms={"p50_ms": 1.0, "p99_ms": 3.0},
        polls=900,
        label=label,
        rate_basis="as given (--rate)",
    )


def _floor(samples: list[list[int]]) -> dict[str, Any]:
    return {"samples": samples, "waits": [[SINCE, 1]]}


def test_floor_leaves_out_warmup_and_times_each_event() -> None:
    samples = [
        [SINCE - 5_000, SINCE + 1_000],  # a warm-up event, stamped before the run
        [SINCE + 1_000, SINCE + 3_000],  # 2 ms
        [SINCE + 2_000, SINCE + 6_000],  # 4 ms
        [SINCE + 12_000_000, SINCE + 12_010_000],  # 10 ms, in the second 10 s window
    ]
    waits = [[SINCE - 2_000_000, 1], [SINCE + 12_000_000, 2]]
    floor = floor_summary({"samples": samples, "waits": waits}, SINCE, produced=4)
    assert (floor["received"], floor["produced"]) == (3, 4)
    assert floor["latency_ms"]["p50_ms"] == 4.0
    assert floor["latency_ms"]["max_ms"] == 10.0
    assert [w["from_s"] for w in floor["by_window"]] == [0.0, 10.0]
    assert floor["consumer_settings"]["fetch.min.bytes"] == 1
    assert floor["fetch_wait_ms"] == [[-2.0, 1], [12.0, 2]]


def test_gap_is_processor_p99_minus_floor_p99() -> None:
    result = _result(p99=40.0)
    result.add_floor(floor_summary(_floor([[SINCE, SINCE + 2_500]]), SINCE, produced=1))
    assert result.floor_gap_p99_ms == 37.5
    assert result.errors == []


def test_a_floor_that_received_nothing_is_an_error() -> None:
    result = _result(p99=None)
    result.add_floor(floor_summary(_floor([]), SINCE, produced=100))
    assert result.floor_gap_p99_ms is None
    assert result.errors == ["broker floor received none of the 100 events"]
    assert result.to_json()["verified"] is False


def test_windows_group_by_ten_seconds() -> None:
    rows = windows([(0.5, 1.0), (9.9, 3.0), (10.0, 5.0)])
    assert [(w["from_s"], w["count"], w["p99_ms"]) for w in rows] == [
        (0.0, 2.0, 3.0),
        (10.0, 1.0, 5.0),
    ]


def test_relative_run_only_when_asked_and_measured() -> None:
    config = FreshnessConfig(rate=1000, relative_rate=0.25)
    assert [p[:2] for p in planned_rates(config, 6_000.0)] == [
        ("fixed", 1000),
        ("relative", 1500.0),
    ]
    assert [p[0] for p in planned_rates(config, None)] == ["fixed"]
    off = FreshnessConfig(relative_rate=None)
    assert [p[0] for p in planned_rates(off, 6_000.0)] == ["fixed"]


def test_one_worker_rate_from_the_ingest_part() -> None:
    ingest = {"config": {"rounds": 3}, "median_events_per_s": {"processor-1w": 6351.0}}
    one = from_ingest(ingest)
    assert one.events_per_s == 6351.0 and "median of 3 rounds" in one.source


def test_part_errors_name_their_run_and_a_missing_rate() -> None:
    failed = _result(label="fixed").to_json() | {"errors": ["processor wrote 1 of 2 events"]}
    part = part_json([failed], FreshnessConfig(), OneWorker(None, "a probe (not verified)"))
    assert part["errors"] == [
        "fixed rate: processor wrote 1 of 2 events",
        "no one-worker rate (a probe (not verified)): the relative-rate run did not run",
    ]
    assert part["verified"] is False
    clean = part_json([_result().to_json()], FreshnessConfig(relative_rate=None), None)
    assert clean["errors"] == [] and clean["verified"] is True


def _report() -> dict[str, Any]:
    runs = []
    for label, p99 in (("fixed", 40.0), ("relative", 80.0)):
        result = _result(p99=p99, label=label)
        result.add_floor(floor_summary(_floor([[SINCE, SINCE + 3_000]]), SINCE, produced=1))
        runs.append(result.to_json())
    fresh = part_json(runs, FreshnessConfig(), OneWorker(6_000.0, "the ingestion part"))
    machine = {
        k: "x" for k in ("cpu", "logical_cores", "memory_gb", "os", "kernel", "python", "git")
    } | {"load_average_1m": 0.1, "servers": {}, "tools": {}, "packages": {}}
    return {
        "freshness": fresh,
        "verified": True,
        "errors": [],
        "memory": {},
        "stack": "external",
        "machine": machine,
        "mode": "smoke",
        "started_at": "now",
        "command": "credit-pipeline bench freshness",
        "duration_s": 1.0,
    }


def test_goals_per_freshness_run() -> None:
    goals = evaluate(_report())
    assert [(g.figure, g.met) for g in goals] == [
        ("freshness p99 (fixed rate)", True),
        ("freshness p99 (relative rate)", False),
    ]


def test_table_and_markdown_show_each_run_beside_its_floor() -> None:
    report = _report()
    table = render_table(report)
    assert "freshness at 999 ev/s, relative rate (n=190)" in table
    assert table.count("broker floor, same run (n=1, fetch wait 1 ms)") == 2
    assert "processor p99 - floor p99: +77.0 ms" in table  # 80 - 3
    assert "unavailable" in table  # external stack: no CPU or memory of the services
    markdown = render_markdown(report)
    assert "| floor p50 ms |" in markdown and "fetch.wait.max.ms=1" in markdown
    assert (
        "Broker floor's fetch wait (from seconds after the first produce): 1 ms from 0 s"
        in markdown
    )
    assert "kafka, redis, postgres: unavailable (external stack)" in markdown


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_bench_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(["bench", *argv])


def test_relative_rate_by_default_only_with_all() -> None:
    assert sizes_from_args(_args()).freshness.relative_rate == 0.25
    assert sizes_from_args(_args("freshness")).freshness.relative_rate is None
    alone = sizes_from_args(_args("freshness", "--relative-rate", "0.5", "--seconds", "3"))
    assert (alone.freshness.relative_rate, alone.freshness.seconds) == (0.5, 3)
    assert sizes_from_args(_args("all", "--relative-rate", "0")).freshness.relative_rate is None
    assert sizes_from_args(_args()).freshness.seconds == 300
    assert _args().stack == "embedded" and _args("--stack", "external").stack == "external"
