"""The history the pipeline starts from: zipcode snapshots, credit reports and loans.

Either generated (`generate_history`) or read from the Feast credit-scoring tutorial's parquet
files (`load_tutorial_parquet`); both are checked by `validate_history`. The table shapes and
`History` itself are `core.history` / `core.history_schema`.

The names below load on first use: importing `history.options` (what every command's parser
does) must not import pandas and the contract (Feast).
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "default_end": "history.generate",
    "generate_history": "history.generate",
    "History": "core.history",
    "CREDIT_HISTORY_TABLE": "core.history_schema",
    "LOAN_TABLE": "core.history_schema",
    "TABLES": "core.history_schema",
    "ZIPCODE_TABLE": "core.history_schema",
    "HistoryDataError": "core.history_schema",
    "TableSpec": "core.history_schema",
    "load_tutorial_parquet": "history.tutorial_import",
    "save_history_parquet": "history.tutorial_import",
    "validate_history": "history.validate",
    "validate_table": "history.validate",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'history' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
