"""The command-line options that choose a history, shared by `init` and `produce replay`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Not at run time: it imports pandas, which `--help` must not pay.
    from core.history import History


def _utc_date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-10-01") from None


class HistoryOptions:
    """A `core.history.HistorySource`: the tutorial's parquet files, or a synthetic history."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--from-parquet",
            type=Path,
            metavar="DIR",
            help="load the tutorial's parquet files (loan_table, zipcode_table, credit_history) "
            "from DIR instead of generating synthetic history",
        )
        parser.add_argument(
            "--persons", type=int, default=30_000, help="synthetic persons (default 30000)"
        )
        parser.add_argument(
            "--zipcodes", type=int, default=20_000, help="synthetic zipcodes (default 20000)"
        )
        parser.add_argument(
            "--loans", type=int, default=None, help="synthetic loans (default: one per person)"
        )
        parser.add_argument(
            "--seed", type=int, default=42, help="seed of the generator (default 42)"
        )
        parser.add_argument(
            "--end",
            type=_utc_date,
            default=None,
            metavar="YYYY-MM-DD",
            help="last day of the synthetic history (default: today, UTC); the same seed and end "
            "always give the same history",
        )

    def load(self, args: argparse.Namespace) -> History:
        if args.from_parquet is not None:
            from history.tutorial_import import load_tutorial_parquet

            return load_tutorial_parquet(args.from_parquet)
        from history.generate import generate_history

        return generate_history(
            persons=args.persons,
            zipcodes=args.zipcodes,
            loans=args.loans,
            seed=args.seed,
            end=args.end,
        )

    def default(self) -> History:
        from history.generate import generate_history

        return generate_history()


HISTORY_OPTIONS = HistoryOptions()
