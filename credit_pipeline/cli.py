"""`credit-pipeline`: one console script, one subcommand per thing a user does."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

from core.cli_options import LazyOptionsParser
from core.errors import CreditPipelineError
from core.logs import configure_logging
from core.settings import Settings, load_settings

log = logging.getLogger("credit_pipeline")

BENCH_HINT = (
    "the benchmark harness (bench/) is a development tool, not part of an installed pipeline: "
    "run it from a checkout (`./run bench`, or `pip install -e '.[dev]'` there)"
)


def _cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    from core.console import Progress
    from credit_pipeline.init_store import run_init
    from history.options import HISTORY_OPTIONS
    from local_stack import LocalStack

    progress = Progress(total=5)
    with progress.step(f"local stack ({settings.stack.value})") as details:
        statuses = LocalStack(settings).up()
        details.extend(f"{s.name} {s.address} {s.state}" for s in statuses)
    with progress.step(
        f"reading history from {args.from_parquet}"
        if args.from_parquet
        else "generating synthetic history"
    ) as details:
        history = HISTORY_OPTIONS.load(args)
        details.append(
            f"{len(history.zipcodes):,} zipcode rows, {len(history.credit_history):,} "
            f"credit reports, {len(history.loans):,} loans"
        )
    run_init(settings, history, progress)
    sys.stdout.write(
        "init complete: offline tables loaded, feature repository applied, Redis materialized\n"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="credit-pipeline",
        description="Streaming credit-scoring feature pipeline (Kafka -> Feast -> scoring API).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=LazyOptionsParser
    )

    # Each package registers its own subcommands; their heavy imports happen when they run.
    from credit_pipeline.demo import add_demo_command
    from history.options import HISTORY_OPTIONS
    from live.cli import add_watch_commands
    from local_stack.cli import add_stack_commands
    from producers.cli import add_produce_commands
    from scoring_api.cli import add_serve_commands
    from stream_processor.cli import add_process_commands
    from training.cli import add_train_commands

    add_stack_commands(sub)

    init = sub.add_parser(
        "init",
        help="start the local stack if needed, create tables, load history, apply Feast, "
        "materialize",
    )
    HISTORY_OPTIONS.add_arguments(init)
    init.set_defaults(func=_cmd_init)

    add_produce_commands(sub, HISTORY_OPTIONS)
    add_process_commands(sub)
    add_train_commands(sub)
    add_serve_commands(sub)
    add_watch_commands(sub)
    add_demo_command(sub)
    _add_bench_command(sub)
    return parser


def _add_bench_command(sub: Any) -> None:
    """`bench`, when the harness is there (a checkout); otherwise a command that says so.

    The harness sits above the application (it starts stacks and runs `init`), so it is
    looked up by name rather than imported: the application never depends on it.
    """
    try:
        bench_cli = importlib.import_module("bench.cli")
    except ModuleNotFoundError as exc:
        if exc.name not in ("bench", "bench.cli"):
            raise
        bench = sub.add_parser("bench", help="benchmarks (development checkout only)")
        bench.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        bench.set_defaults(func=_bench_missing)
        return
    bench_cli.add_bench_commands(sub)


def _bench_missing(settings: Settings, args: argparse.Namespace) -> int:
    sys.stderr.write(f"error: {BENCH_HINT}\n")
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    settings = load_settings()
    if settings is None:
        return 2
    try:
        return int(args.func(settings, args))
    except CreditPipelineError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
