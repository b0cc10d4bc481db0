"""The three history tables as the tutorial names them, derived from `core.contract`."""

from __future__ import annotations

from dataclasses import dataclass

from core import contract
from core.contract import CREATED_TIMESTAMP, EVENT_TIMESTAMP, Column
from core.errors import CreditPipelineError

# The loan table's id and label: the columns the contract's loan_application tags name.
LOAN_ID = contract.LOAN_ID
LABEL = contract.LABEL
TIMESTAMPS = (EVENT_TIMESTAMP, CREATED_TIMESTAMP)


class HistoryDataError(CreditPipelineError):
    """A history table does not have the columns, types or keys the pipeline needs."""

    def __init__(self, source: str, column: str | None, problem: str) -> None:
        self.source = source
        self.column = column
        self.problem = problem
        where = f"{source}: column {column!r}" if column else source
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class TableSpec:
    """One history table: its `History` attribute, its parquet file, columns and unique key."""

    name: str
    file: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def column_names(self) -> list[str]:
        """Every column in order: the contract's, then event and created timestamps."""
        return [c.name for c in self.columns] + list(TIMESTAMPS)


def _view_table(view: contract.ViewContract, name: str, file: str) -> TableSpec:
    return TableSpec(name, file, view.row_columns, (view.entity.name, EVENT_TIMESTAMP))


ZIPCODE_TABLE = _view_table(contract.ZIPCODE_FEATURES, "zipcodes", "zipcode_table.parquet")
CREDIT_HISTORY_TABLE = _view_table(
    contract.CREDIT_HISTORY, "credit_history", "credit_history.parquet"
)
LOAN_TABLE = TableSpec("loans", "loan_table.parquet", contract.LOAN_COLUMNS, (LOAN_ID,))
TABLES: tuple[TableSpec, ...] = (ZIPCODE_TABLE, CREDIT_HISTORY_TABLE, LOAN_TABLE)
