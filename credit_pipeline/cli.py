"""`credit-pipeline`: one console script, one subcommand per thing a user does."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from credit_pipeline.errors import CreditPipelineError
from credit_pipeline.settings import Settings

if TYPE_CHECKING:
    from credit_pipeline.history import History

log = logging.getLogger("credit_pipeline")


def add_history_source_args(parser: argparse.ArgumentParser) -> None:
    """Options choosing the history (shared by `init` and `produce replay`)."""
    parser.add_argument(
        "--from-parquet",
        type=Path,
        metavar="DIR",
        help="load the tutorial's parquet files (loan_table, zipcode_table, credit_history) "
        "from DIR instead of generating synthetic history",
    )
    parser.add_argument("--persons", type=int, default=30_000, help="synthetic persons (default 30000)")
    parser.add_argument("--zipcodes", type=int, default=20_000, help="synthetic zipcodes (default 20000)")
    parser.add_argument("--loans", type=int, default=None, help="synthetic loans (default: one per person)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the generator (default 42)")
    parser.add_argument(
        "--end",
        type=_utc_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="last day of the synthetic history (default: today, UTC); the same seed and end "
        "always give the same history",
    )


def _utc_date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-10-01") from None


def history_from_args(args: argparse.Namespace) -> History:
    """The history the source options name: the tutorial's parquet files or a synthetic one."""
    if args.from_parquet is not None:
        from credit_pipeline.history import load_tutorial_parquet

        return load_tutorial_parquet(args.from_parquet)
    from credit_pipeline.history import generate_history

    return generate_history(
        persons=args.persons, zipcodes=args.zipcodes, loans=args.loans, seed=args.seed, end=args.end
    )


def _cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    from credit_pipeline.console import Progress
    from credit_pipeline.init_store import run_init
    from credit_pipeline.stack import LocalStack

    progress = Progress(total=5)
    with progress.step(f"local stack ({settings.stack.value})") as details:
        statuses = LocalStack(settings).up()
        details.extend(f"{s.name} {s.address} {s.state}" for s in statuses)
    with progress.step(
        f"reading history from {args.from_parquet}" if args.from_parquet else "generating synthetic history"
    ) as details:
        history = history_from_args(args)
        details.append(
            f"{len(history.zipcodes):,} zipcode rows, {len(history.credit_history):,} "
            f"credit reports, {len(history.loans):,} loans"
        )
    run_init(settings, history, progress)
    sys.stdout.write("init complete: offline tables loaded, feature repository applied, Redis materialized\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="credit-pipeline",
        description="Streaming credit-scoring feature pipeline (Kafka -> Feast -> scoring API).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # Each package registers its own subcommands; their heavy imports happen when they run.
    from bench.cli import add_bench_commands
    from credit_pipeline.demo import add_demo_command
    from credit_pipeline.live.cli import add_watch_commands
    from credit_pipeline.stack.cli import add_stack_commands
    from credit_pipeline.training.cli import add_train_commands
    from producers.cli import add_produce_commands
    from scoring_api.cli import add_serve_commands
    from stream_processor.cli import add_process_commands

    add_stack_commands(sub)

    init = sub.add_parser(
        "init",
        help="start the local stack if needed, create tables, load history, apply Feast, materialize",
    )
    add_history_source_args(init)
    init.set_defaults(func=_cmd_init)

    add_produce_commands(sub)
    add_process_commands(sub)
    add_train_commands(sub)
    add_serve_commands(sub)
    add_watch_commands(sub)
    add_demo_command(sub)
    add_bench_commands(sub)
    return parser


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Feast and its dependencies are chatty at INFO; their warnings still show.
    for noisy in ("feast", "urllib3", "kafka", "aiokafka", "faust"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


def load_settings() -> Settings | None:
    """The settings from the environment, or None after naming each bad variable on stderr."""
    try:
        return Settings()
    except ValidationError as exc:
        for err in exc.errors():
            name = "CREDIT_" + "_".join(str(p) for p in err["loc"]).upper()
            sys.stderr.write(f"error: {name}: {err['msg']}\n")
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
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
