"""The pure parts of the benchmark: percentiles, profile summaries, goals, CLI sizes."""

from __future__ import annotations

import argparse

import pytest

from bench.cli import FULL, SMOKE, add_bench_commands, sizes_from_args
from bench.goals import evaluate
from bench.ingest import stage_figures
from bench.profiling import Profile, summarise
from bench.stats import latency_summary, percentile


def test_nearest_rank_percentiles() -> None:
    samples = [float(v) for v in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 99) == 99.0
    assert percentile([], 50) is None
    assert latency_summary([3.0, 1.0, 2.0])["max_ms"] == 3.0


def test_profile_shares_by_package_and_project_function() -> None:
    raw = "\n".join(
        [
            'process 1:"python";main (stream_processor/__main__.py:38);'
            "PostgresBatchWriter._write_blocking (stream_processor/writers.py:120);"
            "copy_expert (psycopg2/extras.py:10) 3",
            'process 1:"python";main (stream_processor/__main__.py:38);'
            "BaseEventLoop._run_once (asyncio/base_events.py:1922) 1",
        ]
    )
    profile = Profile("processor")
    summarise(raw, profile)
    assert profile.samples == 4
    assert dict(profile.by_package) == {"psycopg2": 75.0, "<stdlib>": 25.0}
    # Entry points are left out of the inclusive list; the project's own functions stay.
    assert dict(profile.top_inclusive) == {
        "PostgresBatchWriter._write_blocking (stream_processor)": 75.0
    }


def test_stage_figures_from_cumulative_metrics() -> None:
    before = {"credit_stream_batch_size_count": 10, "credit_stream_batch_size_sum": 5_000}
    after = {
        "credit_stream_batch_size_count": 20,
        "credit_stream_batch_size_sum": 15_000,
        "credit_stream_write_seconds_sum{offline}": 1.5,
        "credit_stream_write_seconds_count{offline}": 10,
    }
    figures = stage_figures(before, after, wall=2.0, workers=1)
    assert figures["mean_batch_events"] == 1_000
    assert figures["offline_write_ms"] == 150
    assert figures["offline_busy_share"] == 0.75


def test_goals_only_for_parts_that_ran() -> None:
    goals = evaluate({"freshness": {"runs": [{"label": "fixed", "latency_ms": {"p99_ms": 60.0}}]}})
    assert [(g.figure, g.met) for g in goals] == [("freshness p99 (fixed rate)", False)]


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_bench_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(["bench", *argv])


def test_sizes_default_full_smoke_and_overrides() -> None:
    assert sizes_from_args(_args()) == FULL
    assert sizes_from_args(_args("--smoke")) == SMOKE
    sizes = sizes_from_args(_args("ingest", "--events", "100000", "--rounds", "3"))
    assert (sizes.ingest.events, sizes.ingest.rounds, sizes.scoring.rounds) == (100_000, 3, 3)
    assert FULL.ingest.events == 500_000 and FULL.freshness.rate == 1_000


def test_only_narrows_the_ingest_consumers_and_refuses_unknown_names() -> None:
    from bench.consumers import consume_only, processor, push_per_event
    from bench.errors import BenchError
    from bench.ingest import chosen_consumers

    sizes = sizes_from_args(_args("ingest", "--only", "processor-1w, consume-only"))
    assert sizes.ingest.only == ("processor-1w", "consume-only")
    kinds = [processor(1), processor(2), consume_only(1000), push_per_event()]
    chosen = chosen_consumers(kinds, sizes.ingest.only)
    assert [k.name for k in chosen] == ["processor-1w", "consume-only"]
    assert chosen_consumers(kinds, ()) == kinds
    with pytest.raises(BenchError, match="no consumer named processor-3w"):
        chosen_consumers(kinds, ("processor-3w",))
