"""`credit-pipeline bench [ingest|freshness|scoring|all|startup] [--smoke]`: the benchmarks."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.config import FreshnessConfig, IngestConfig, ScoringConfig
from core.settings import Settings

PARTS = ("ingest", "freshness", "scoring")
DEFAULT_OUT = Path("artifacts") / "bench"


@dataclass(frozen=True)
class Sizes:
    """Everything that differs between a full run and a smoke run."""

    persons: int
    zipcodes: int
    ingest: IngestConfig
    freshness: FreshnessConfig
    scoring: ScoringConfig


FULL = Sizes(30_000, 20_000, IngestConfig(), FreshnessConfig(), ScoringConfig())
# Tiny sizes: seconds of load, so the test suite can run every part and the harness cannot rot.
SMOKE = Sizes(
    2_000,
    500,
    IngestConfig(
        events=2_000, naive_events=200, naive_seconds=15, warmup_events=100, sample_per_view=20
    ),
    FreshnessConfig(
        rate=200, seconds=4, sampled_per_view=10, warmup_events=100, probe_events=2_000
    ),
    ScoringConfig(
        rate=50, fixed_seconds=2, closed_seconds=2, connections=8, applicants=100, warmup_seconds=1
    ),
)


def add_bench_commands(subparsers: Any) -> None:
    """Register `bench` on the `credit-pipeline` sub-command parser."""
    parser = subparsers.add_parser(
        "bench",
        help="benchmark ingestion, freshness and scoring on a local stack of its own",
        description="Starts its own Tansu, Valkey and Postgres (temp dir, free ports), loads a "
        "synthetic history, runs the chosen parts with their baselines in the same run, prints "
        "a table and writes JSON and markdown reports. Stops everything at the end. With "
        "--stack external it uses the services the CREDIT_* variables point at instead.",
    )
    parser.add_argument(
        "part",
        nargs="?",
        choices=(*PARTS, "all", "startup"),
        default="all",
        help="`all` runs ingest, freshness and scoring; `startup` times everyday commands",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes (seconds): checks the harness"
    )
    parser.add_argument("--events", type=int, help="ingest: events per run (default 500000)")
    parser.add_argument(
        "--rounds", type=int, help="ingest and scoring: interleaved rounds (default 1)"
    )
    parser.add_argument(
        "--only",
        metavar="NAMES",
        help="ingest: run just these consumers, comma-separated (e.g. "
        "`processor-1w,consume-only`, to compare settings quickly)",
    )
    parser.add_argument("--rate", type=float, help="freshness: fixed events/s (default 1000)")
    parser.add_argument(
        "--relative-rate",
        type=_fraction,
        metavar="FRACTION",
        help="freshness: also run at FRACTION of the one-worker ingestion rate measured in the "
        "same session (`all`: 0.25 of the ingestion part's processor-1w by default; "
        "`freshness` alone: a short processor-1w run measures the rate first; 0: off)",
    )
    parser.add_argument(
        "--seconds", type=float, help="freshness: duration of each run (default 300)"
    )
    parser.add_argument("--req-rate", type=float, help="scoring: fixed rate, req/s (default 200)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the measured runs, one extra run of the processor and of the API under "
        "py-spy (needs py-spy)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"report directory (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--against",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="startup: also time another checkout's code (e.g. a git worktree of an older "
        "commit), side by side",
    )
    parser.add_argument(
        "--stack",
        choices=("embedded", "external"),
        default="embedded",
        help="embedded (default): a stack of its own, removed at the end. external: the Kafka, "
        "Redis and Postgres of CREDIT_KAFKA_*, CREDIT_REDIS_*, CREDIT_POSTGRES_* (e.g. docker "
        "compose), neither started nor stopped; every run uses topics and consumer groups of its "
        "own; the offline tables and Feast registry entries are created only if missing, no "
        "history is loaded or materialized and nothing is deleted. The processors it starts do "
        "write its events (new event ids, synthetic entities) to that Redis and Postgres, and "
        "scoring trains on the loans there; its topics (`<part>-<id>-...`) stay on the broker. "
        "CPU and memory of the services are not measured. `startup` always starts its own",
    )
    parser.add_argument("--keep", action="store_true", help="keep the stack's temp dir and logs")
    parser.set_defaults(func=run_bench)


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction between 0 and 1")
    return value


def sizes_from_args(args: argparse.Namespace) -> Sizes:
    base = SMOKE if args.smoke else FULL
    ingest, fresh, scoring = base.ingest, base.freshness, base.scoring
    if args.events is not None:
        ingest = replace(ingest, events=args.events)
    if args.rounds is not None:
        ingest = replace(ingest, rounds=args.rounds)
        scoring = replace(scoring, rounds=args.rounds)
    if args.only:
        ingest = replace(ingest, only=tuple(n.strip() for n in args.only.split(",")))
    if args.rate is not None:
        fresh = replace(fresh, rate=args.rate)
    if args.seconds is not None:
        fresh = replace(fresh, seconds=args.seconds)
    if args.relative_rate is not None or args.part != "all":
        # Only `all` measures the one-worker rate anyway; elsewhere the relative run is asked for.
        fresh = replace(fresh, relative_rate=args.relative_rate or None)
    if args.req_rate is not None:
        scoring = replace(scoring, rate=args.req_rate)
    return replace(base, ingest=ingest, freshness=fresh, scoring=scoring)


def _say(line: str) -> None:
    sys.stderr.write(f"[bench {datetime.now(UTC):%H:%M:%S}] {line}\n")
    sys.stderr.flush()


def run_bench(settings: Settings, args: argparse.Namespace) -> int:
    """Handler of `bench`: run, print the table, write the reports; 1 if anything failed."""
    from bench.report import render_table, write_report
    from bench.run import run_parts
    from bench.wrk import INSTALL_HINT as WRK_HINT
    from bench.wrk import wrk_path

    if not args.verbose:
        # The services' INFO lines (topics created, servers started) would bury the progress
        # lines: only the bench's own stay at INFO.
        logging.getLogger().setLevel(logging.WARNING)
        logging.getLogger("bench").setLevel(logging.INFO)
    if args.part == "startup":
        return _run_startup(settings, args)
    parts = PARTS if args.part == "all" else (args.part,)
    if "scoring" in parts and wrk_path() is None:
        _say(f"wrk not found, the closed loop falls back to the Python generator: {WRK_HINT}")
    command = (
        "credit-pipeline " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "credit-pipeline bench"
    )
    started = time.monotonic()
    report = run_parts(
        settings,
        parts,
        sizes_from_args(args),
        profile=args.profile,
        keep=args.keep,
        say=_say,
        external=args.stack == "external",
    )
    report["command"] = command
    report["mode"] = "smoke" if args.smoke else "full"
    report["duration_s"] = time.monotonic() - started
    stem = f"bench-{args.part}{'-smoke' if args.smoke else ''}"
    json_path, md_path = write_report(report, args.out, stem)
    sys.stdout.write(render_table(report) + "\n")
    sys.stdout.write(f"\nreports: {json_path} and {md_path}\n")
    return 0 if report["verified"] else 1


def _run_startup(settings: Settings, args: argparse.Namespace) -> int:
    from bench.machine import machine_info
    from bench.startup import render, run_startup

    rounds = args.rounds or (2 if args.smoke else 7)
    result = run_startup(settings, rounds=rounds, against=args.against, keep=args.keep, say=_say)
    table = render(result)
    report = {**result.to_json(), "machine": machine_info(), "table": table}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"bench-startup{'-smoke' if args.smoke else ''}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    sys.stdout.write(table + f"\n\nreport: {path}\n")
    for failure in result.failures:
        sys.stderr.write(f"failed: {failure}\n")
    return 0 if not result.failures else 1
