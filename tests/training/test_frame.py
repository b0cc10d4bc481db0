"""Canonical training frames, their hash and the time-based split."""

from __future__ import annotations

import pandas as pd
import pytest

from core.contract import EVENT_TIMESTAMP
from core.model.columns import LABEL, LOAN_ID, ModelColumns
from core.model.errors import NoTrainingDataError
from training.frame import canonical_frame, frame_sha256, time_split


def test_the_hash_ignores_row_order_and_int_vs_float_of_the_same_values(
    frame: pd.DataFrame,
) -> None:
    columns = ModelColumns.from_contract()
    shuffled = frame.sample(frac=1, random_state=1)
    # Feast returns int64 for a feature without nulls and float64 with them.
    shuffled["population"] = shuffled["population"].fillna(0).round()
    reference = frame.assign(population=frame["population"].fillna(0).round())
    assert frame_sha256(canonical_frame(shuffled, columns)) == frame_sha256(
        canonical_frame(reference, columns)
    )


def test_the_hash_changes_when_one_value_changes(frame: pd.DataFrame) -> None:
    changed = frame.copy()
    changed.loc[3, "loan_amnt"] = 123_456.0
    assert frame_sha256(changed) != frame_sha256(frame)


def test_the_test_part_holds_the_latest_loans(frame: pd.DataFrame) -> None:
    split = time_split(frame, 0.2)
    assert len(split.train) + len(split.test) == len(frame)
    assert split.train[EVENT_TIMESTAMP].max() < split.test[EVENT_TIMESTAMP].min()
    assert split.split_at == split.test[EVENT_TIMESTAMP].min()
    assert abs(len(split.test) - 0.2 * len(frame)) <= 1


def test_loans_at_the_same_instant_stay_on_one_side(frame: pd.DataFrame) -> None:
    same = frame.copy()
    same[EVENT_TIMESTAMP] = pd.Timestamp("2026-05-01", tz="UTC")
    same.loc[same.index[: len(same) // 2], EVENT_TIMESTAMP] = pd.Timestamp("2026-04-01", tz="UTC")
    split = time_split(same, 0.2)
    assert set(split.test[EVENT_TIMESTAMP]) == {pd.Timestamp("2026-05-01", tz="UTC")}
    assert len(split.test) == len(same) - len(same) // 2


def test_a_split_without_both_outcomes_is_refused(frame: pd.DataFrame) -> None:
    late = frame[LOAN_ID].isin(frame.sort_values(EVENT_TIMESTAMP)[LOAN_ID].tail(400))
    one_class = frame.assign(**{LABEL: frame[LABEL].where(~late, 0)})
    with pytest.raises(NoTrainingDataError, match="both outcomes"):
        time_split(one_class, 0.2)
