"""The history the pipeline starts from: zipcode snapshots, credit reports and loans.

Either generated (`generate_history`) or read from the Feast credit-scoring tutorial's parquet
files (`load_tutorial_parquet`); both are checked by `validate_history`.
"""

from core.history import History
from core.history_schema import (
    CREDIT_HISTORY_TABLE,
    LOAN_TABLE,
    TABLES,
    ZIPCODE_TABLE,
    HistoryDataError,
    TableSpec,
)
from history.generate import default_end, generate_history
from history.tutorial_import import load_tutorial_parquet, save_history_parquet
from history.validate import validate_history, validate_table

__all__ = [
    "CREDIT_HISTORY_TABLE",
    "default_end",
    "LOAN_TABLE",
    "TABLES",
    "ZIPCODE_TABLE",
    "History",
    "HistoryDataError",
    "TableSpec",
    "generate_history",
    "load_tutorial_parquet",
    "save_history_parquet",
    "validate_history",
    "validate_table",
]
