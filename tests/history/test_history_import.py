"""Reading the tutorial's parquet files: round trip, tolerated variations, clear refusals."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import contract
from core.contract import CREATED_TIMESTAMP, EVENT_TIMESTAMP
from core.errors import CreditPipelineError
from history import (
    CREDIT_HISTORY_TABLE,
    LOAN_TABLE,
    ZIPCODE_TABLE,
    History,
    HistoryDataError,
    TableSpec,
    load_tutorial_parquet,
    save_history_parquet,
)

DOB = contract.CREDIT_HISTORY.entity.name
ZIPCODE = contract.ZIPCODE_FEATURES.entity.name
FIRST_INT_FEATURE = next(c.name for c in contract.CREDIT_HISTORY.features if c.kind == "int64")
FLOAT_COLUMN = next(c.name for c in contract.LOAN_COLUMNS if c.kind == "float64")


@pytest.fixture
def saved(tiny_history: History, tmp_path: Path) -> Path:
    save_history_parquet(tiny_history, tmp_path)
    return tmp_path


def _rewrite(
    directory: Path, spec: TableSpec, change: Callable[[pd.DataFrame], pd.DataFrame]
) -> None:
    path = directory / spec.file
    change(pd.read_parquet(path)).to_parquet(path, index=False)


def _assert_same(loaded: History, expected: History) -> None:
    for spec, frame in expected.tables():
        pd.testing.assert_frame_equal(getattr(loaded, spec.name), frame)


def test_round_trip(tiny_history: History, tmp_path: Path) -> None:
    paths = save_history_parquet(tiny_history, tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        s.file for s in (ZIPCODE_TABLE, CREDIT_HISTORY_TABLE, LOAN_TABLE)
    )
    _assert_same(load_tutorial_parquet(tmp_path), tiny_history)


def test_tutorial_variations_are_normalised(tiny_history: History, saved: Path) -> None:
    def tutorial_like(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        # Small ints as int32, the zipcode as a whole float.
        for name in frame.columns:
            if frame[name].dtype == np.int64 and frame[name].abs().max() < 2**31:
                frame[name] = frame[name].astype(np.int32 if name != ZIPCODE else np.float64)
        # Naive timestamps (meant as UTC) in microseconds, the columns in another order, and a
        # column the pipeline does not use.
        for name in (EVENT_TIMESTAMP, CREATED_TIMESTAMP):
            frame[name] = frame[name].dt.tz_convert(None).astype("datetime64[us]")
        frame["extra"] = "ignored"
        return frame[list(reversed(frame.columns))]

    for spec in (ZIPCODE_TABLE, CREDIT_HISTORY_TABLE, LOAN_TABLE):
        _rewrite(saved, spec, tutorial_like)
    _assert_same(load_tutorial_parquet(saved), tiny_history)


def test_a_missing_file_is_named(saved: Path) -> None:
    (saved / LOAN_TABLE.file).unlink()
    with pytest.raises(HistoryDataError, match=LOAN_TABLE.file):
        load_tutorial_parquet(saved)


def test_a_missing_column_is_named_with_its_file(saved: Path) -> None:
    _rewrite(saved, CREDIT_HISTORY_TABLE, lambda f: f.drop(columns=FIRST_INT_FEATURE))
    with pytest.raises(HistoryDataError) as caught:
        load_tutorial_parquet(saved)
    assert isinstance(caught.value, CreditPipelineError)
    assert CREDIT_HISTORY_TABLE.file in str(caught.value)
    assert repr(FIRST_INT_FEATURE) in str(caught.value)
    assert caught.value.column == FIRST_INT_FEATURE


@pytest.mark.parametrize(
    ("spec", "column", "corrupt", "expected"),
    [
        # Strings in an int column.
        (ZIPCODE_TABLE, ZIPCODE, lambda s: s.astype(str), "expected int64"),
        # A fraction where a count belongs.
        (CREDIT_HISTORY_TABLE, FIRST_INT_FEATURE, lambda s: s + 0.5, "non-integral"),
        # A missing entity key.
        (CREDIT_HISTORY_TABLE, DOB, lambda s: s.where(s.index != 3, None), "missing"),
        # Numbers where strings belong.
        (LOAN_TABLE, DOB, lambda s: np.arange(len(s)), "expected strings"),
        # Text where a float belongs.
        (LOAN_TABLE, FLOAT_COLUMN, lambda s: s.astype(str), "expected float64"),
        # A timestamp that is not one.
        (LOAN_TABLE, EVENT_TIMESTAMP, lambda s: s.astype(str), "expected timestamps"),
    ],
)
def test_a_wrong_typed_column_is_refused(
    saved: Path,
    spec: TableSpec,
    column: str,
    corrupt: Callable[[pd.Series], object],
    expected: str,
) -> None:
    _rewrite(saved, spec, lambda f: f.assign(**{column: corrupt(f[column])}))
    with pytest.raises(HistoryDataError, match=expected) as caught:
        load_tutorial_parquet(saved)
    assert spec.file in str(caught.value) and repr(column) in str(caught.value)


def test_not_a_parquet_file_is_refused(saved: Path) -> None:
    (saved / ZIPCODE_TABLE.file).write_text("zipcode,city\n")
    with pytest.raises(HistoryDataError, match="not a readable parquet file"):
        load_tutorial_parquet(saved)


def test_duplicate_loan_ids_are_refused(saved: Path) -> None:
    loan_id = LOAN_TABLE.key[0]
    _rewrite(
        saved,
        LOAN_TABLE,
        lambda f: f.assign(**{loan_id: f[loan_id].where(f.index != 1, f[loan_id][0])}),
    )
    with pytest.raises(HistoryDataError, match="repeat the key"):
        load_tutorial_parquet(saved)


def test_repeated_reports_keep_the_latest_created(
    tiny_history: History, saved: Path, caplog: pytest.LogCaptureFixture
) -> None:
    original = tiny_history.credit_history

    def with_stale_copy(frame: pd.DataFrame) -> pd.DataFrame:
        stale = frame.iloc[[0]].assign(
            **{CREATED_TIMESTAMP: frame[CREATED_TIMESTAMP].iloc[0] - pd.Timedelta(hours=1)}
        )
        stale[FIRST_INT_FEATURE] = -1
        return pd.concat([stale, frame], ignore_index=True)

    _rewrite(saved, CREDIT_HISTORY_TABLE, with_stale_copy)
    with caplog.at_level(logging.WARNING):
        loaded = load_tutorial_parquet(saved)
    pd.testing.assert_frame_equal(loaded.credit_history, original)
    assert "kept the latest" in caplog.text


def test_saving_an_invalid_history_is_refused(tiny_history: History, tmp_path: Path) -> None:
    broken = History(
        tiny_history.zipcodes,
        tiny_history.credit_history,
        tiny_history.loans.drop(columns=FLOAT_COLUMN),
    )
    with pytest.raises(HistoryDataError, match=FLOAT_COLUMN):
        save_history_parquet(broken, tmp_path)
    assert not any(tmp_path.iterdir())
