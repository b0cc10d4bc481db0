"""`History`: the zipcode, credit-history and loan tables the pipeline starts from."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from core.history_schema import TABLES, TableSpec


# eq=False: DataFrames have no truth value, so a generated __eq__ would raise.
@dataclass(frozen=True, eq=False)
class History:
    """Three tables in the tutorial's column names; timestamps are datetime64[ns, UTC]."""

    zipcodes: pd.DataFrame
    credit_history: pd.DataFrame
    loans: pd.DataFrame

    def tables(self) -> Iterator[tuple[TableSpec, pd.DataFrame]]:
        """Each table with its spec, in `schema.TABLES` order."""
        for spec in TABLES:
            yield spec, getattr(self, spec.name)


class HistorySource(Protocol):
    """Where a command gets a history from; the application hands one to the commands that
    need it (`init`, `produce replay`), so that services need not import `history`."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The options that choose the history (generated, or files to read)."""

    def load(self, args: argparse.Namespace) -> History:
        """The history those options name."""

    def default(self) -> History:
        """The history a default `init` loads."""
