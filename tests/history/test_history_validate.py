"""`validate_history` refuses tables the pipeline could not load faithfully."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from core import contract
from core.contract import EVENT_TIMESTAMP
from core.history_schema import LABEL
from history import History, HistoryDataError, validate_history

INT_FEATURE = next(c.name for c in contract.ZIPCODE_FEATURES.features if c.kind == "int64")


def _with_loans(history: History, change: Callable[[pd.DataFrame], pd.DataFrame]) -> History:
    return History(history.zipcodes, history.credit_history, change(history.loans.copy()))


def test_a_generated_history_is_valid(tiny_history: History) -> None:
    assert validate_history(tiny_history) is tiny_history


@pytest.mark.parametrize(
    ("change", "column", "expected"),
    [
        (lambda f: f.assign(**{LABEL: 2}), LABEL, "expected 0 or 1"),
        (lambda f: f[list(reversed(f.columns))], None, "out of order"),
        (lambda f: f.assign(extra=1), "extra", "unexpected column"),
        (
            lambda f: f.assign(**{EVENT_TIMESTAMP: f[EVENT_TIMESTAMP].dt.tz_convert(None)}),
            EVENT_TIMESTAMP,
            "expected datetime64",
        ),
    ],
)
def test_bad_loans_are_refused(
    tiny_history: History,
    change: Callable[[pd.DataFrame], pd.DataFrame],
    column: str | None,
    expected: str,
) -> None:
    with pytest.raises(HistoryDataError, match=expected) as caught:
        validate_history(_with_loans(tiny_history, change))
    assert caught.value.column == column
    assert str(caught.value).startswith("loans table")


def test_a_float_where_an_int_belongs_is_refused(tiny_history: History) -> None:
    zipcodes = tiny_history.zipcodes.astype({INT_FEATURE: float})
    with pytest.raises(HistoryDataError, match=f"'{INT_FEATURE}': expected int64, found float64"):
        validate_history(History(zipcodes, tiny_history.credit_history, tiny_history.loans))
