"""Bring a column read from a file to the kind the contract declares, or say why it cannot."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from core.contract import Kind
from core.history_schema import HistoryDataError

_INTEGER_VALUES = ("integer", "empty")
_NUMBER_VALUES = ("integer", "floating", "mixed-integer-float", "decimal", "empty")


def coerce_column(series: pd.Series, kind: Kind, source: str) -> pd.Series:
    """int64, float64 or object-of-str; lossless conversions only."""
    if kind == "int64":
        return _to_int64(series, source)
    if kind == "float64":
        return _to_float64(series, source)
    return _to_strings(series, source)


def coerce_timestamp(series: pd.Series, source: str) -> pd.Series:
    """datetime64[ns, UTC]; naive timestamps are read as UTC (the tutorial's convention)."""
    name = str(series.name)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        converted = series.dt.tz_convert("UTC")
    elif ptypes.is_datetime64_dtype(series.dtype):
        converted = series.dt.tz_localize("UTC")
    else:
        raise HistoryDataError(
            source, name, f"expected timestamps, found {series.dtype}{_example(series)}"
        )
    missing = int(converted.isna().sum())
    if missing:
        raise HistoryDataError(source, name, f"expected timestamps, found {missing} missing (NaT)")
    try:
        return converted.astype("datetime64[ns, UTC]")
    except (pd.errors.OutOfBoundsDatetime, OverflowError) as exc:
        raise HistoryDataError(source, name, f"timestamp out of range: {exc}") from exc


def _to_int64(series: pd.Series, source: str) -> pd.Series:
    name = str(series.name)
    _reject_missing(series, "int64", source)
    if ptypes.is_bool_dtype(series.dtype):
        raise HistoryDataError(source, name, "expected int64, found booleans")
    if ptypes.is_integer_dtype(series.dtype) or (
        series.dtype == object and ptypes.infer_dtype(series) in _INTEGER_VALUES
    ):
        values = series.to_numpy(dtype=np.float64) if series.dtype.kind == "u" else None
        if values is not None and values.max(initial=0) > np.iinfo(np.int64).max:
            raise HistoryDataError(source, name, "expected int64, found values above its range")
        return series.astype(np.int64)
    if ptypes.is_float_dtype(series.dtype):
        # Parquet writers often store whole numbers as floats; accept them when nothing is lost.
        values = series.to_numpy(dtype=np.float64)
        fractional = (
            ~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) >= 2.0**63)
        )
        if fractional.any():
            example = values[fractional][0]
            raise HistoryDataError(
                source, name, f"expected int64, found non-integral value {example}"
            )
        return pd.Series(values.astype(np.int64), index=series.index, name=series.name)
    raise HistoryDataError(source, name, f"expected int64, found {_found(series)}")


def _to_float64(series: pd.Series, source: str) -> pd.Series:
    name = str(series.name)
    numeric = ptypes.is_numeric_dtype(series.dtype) and not ptypes.is_bool_dtype(series.dtype)
    if numeric or (series.dtype == object and ptypes.infer_dtype(series) in _NUMBER_VALUES):
        # A missing float is kept as NaN: an unknown measurement, not a broken file.
        return pd.Series(
            series.to_numpy(dtype=np.float64, na_value=np.nan), index=series.index, name=series.name
        )
    raise HistoryDataError(source, name, f"expected float64, found {_found(series)}")


def _to_strings(series: pd.Series, source: str) -> pd.Series:
    name = str(series.name)
    _reject_missing(series, "strings", source)
    if isinstance(series.dtype, pd.CategoricalDtype) or ptypes.is_string_dtype(series.dtype):
        as_objects = series.astype(object)
        if ptypes.infer_dtype(as_objects) in ("string", "empty"):
            return as_objects
    raise HistoryDataError(source, name, f"expected strings, found {_found(series)}")


def _reject_missing(series: pd.Series, expected: str, source: str) -> None:
    missing = int(series.isna().sum())
    if missing:
        raise HistoryDataError(
            source, str(series.name), f"expected {expected}, found {missing} missing values"
        )


def _found(series: pd.Series) -> str:
    inferred = ptypes.infer_dtype(series, skipna=True)
    return f"{series.dtype} holding {inferred} values{_example(series)}"


def _example(series: pd.Series) -> str:
    present = series.dropna()
    return f" (e.g. {present.iloc[0]!r})" if len(present) else ""
