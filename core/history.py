"""`History`: the zipcode, credit-history and loan tables the pipeline starts from."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from credit_pipeline.history.schema import TABLES, TableSpec


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
