"""Checks every `History` passes before the pipeline uses it, generated or imported."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from core.contract import Kind
from core.history import History
from core.history_schema import LABEL, TIMESTAMPS, HistoryDataError, TableSpec

UTC_NS = pd.DatetimeTZDtype("ns", "UTC")
_NUMPY_DTYPE: dict[Kind, np.dtype] = {"int64": np.dtype("int64"), "float64": np.dtype("float64")}


def validate_history(history: History, directory: Path | None = None) -> History:
    """Raise HistoryDataError unless every table matches its spec; return `history`."""
    for spec, frame in history.tables():
        source = str(directory / spec.file) if directory is not None else f"{spec.name} table"
        validate_table(frame, spec, source)
    return history


def validate_table(frame: pd.DataFrame, spec: TableSpec, source: str) -> None:
    """Columns in contract order, exact dtypes, no missing values outside floats, unique key."""
    _check_columns(frame, spec, source)
    for column in spec.columns:
        _check_kind(frame[column.name], column.kind, source)
    for name in TIMESTAMPS:
        _check_timestamp(frame[name], source)
    duplicated = frame.duplicated(subset=list(spec.key))
    if duplicated.any():
        example = frame.loc[duplicated, list(spec.key)].iloc[0].tolist()
        raise HistoryDataError(
            source,
            spec.key[0],
            f"{int(duplicated.sum())} rows repeat the key ({', '.join(spec.key)}), e.g. {example}",
        )
    if LABEL in frame.columns and not frame[LABEL].isin((0, 1)).all():
        bad = sorted({int(v) for v in frame[LABEL].unique()} - {0, 1})[:5]
        raise HistoryDataError(source, LABEL, f"expected 0 or 1 (1 = default), found {bad}")


def require_columns(columns: Iterable[object], spec: TableSpec, source: str) -> None:
    """Raise naming the first of the spec's columns that `columns` lacks."""
    present = set(columns)
    missing = [name for name in spec.column_names if name not in present]
    if missing:
        raise HistoryDataError(
            source,
            missing[0],
            f"not found (missing: {missing}); the table needs {spec.column_names}",
        )


def _check_columns(frame: pd.DataFrame, spec: TableSpec, source: str) -> None:
    require_columns(frame.columns, spec, source)
    expected = spec.column_names
    if list(frame.columns) != expected:
        extra = [c for c in frame.columns if c not in expected]
        problem = f"unexpected column; the table has exactly {expected}"
        if not extra:
            problem = f"columns out of order; expected {expected}"
        raise HistoryDataError(source, extra[0] if extra else None, problem)


def _check_kind(series: pd.Series, kind: Kind, source: str) -> None:
    name = str(series.name)
    if kind == "string":
        if series.dtype != object:
            raise HistoryDataError(
                source, name, f"expected strings (object dtype), found {series.dtype}"
            )
        inferred = pd.api.types.infer_dtype(series, skipna=False)
        if inferred not in ("string", "empty"):
            raise HistoryDataError(
                source, name, f"expected strings without missing values, found {inferred} values"
            )
        return
    if series.dtype != _NUMPY_DTYPE[kind]:
        raise HistoryDataError(source, name, f"expected {kind}, found {series.dtype}")
    # NaN is allowed in float columns (an unknown value); infinity is never a measurement.
    if kind == "float64" and np.isinf(series.to_numpy()).any():
        raise HistoryDataError(source, name, "expected finite floats, found infinity")


def _check_timestamp(series: pd.Series, source: str) -> None:
    if series.dtype != UTC_NS:
        raise HistoryDataError(source, str(series.name), f"expected {UTC_NS}, found {series.dtype}")
    if series.isna().any():
        raise HistoryDataError(
            source, str(series.name), f"{int(series.isna().sum())} missing timestamps"
        )
