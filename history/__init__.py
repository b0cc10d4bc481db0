"""The history the pipeline starts from: zipcode snapshots, credit reports and loans.

Either generated (`generate_history`) or read from the Feast credit-scoring tutorial's parquet
files (`load_tutorial_parquet`); both are checked by `validate_history`.
"""

from credit_pipeline.history.generate import default_end, generate_history
from credit_pipeline.history.model import History
from credit_pipeline.history.schema import (
    CREDIT_HISTORY_TABLE,
    LOAN_TABLE,
    TABLES,
    ZIPCODE_TABLE,
    HistoryDataError,
    TableSpec,
)
from credit_pipeline.history.tutorial_import import load_tutorial_parquet, save_history_parquet
from credit_pipeline.history.validate import validate_history, validate_table

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
