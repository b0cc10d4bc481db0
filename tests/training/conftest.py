"""Fixtures of the training tests: small synthetic canonical frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.contract import EVENT_TIMESTAMP
from core.model.columns import LABEL, LOAN_ID, ModelColumns
from training.frame import canonical_frame


def synthetic_frame(rows: int = 2_000, seed: int = 7) -> pd.DataFrame:
    """A canonical training frame with a learnable default signal and some missing values."""
    rng = np.random.default_rng(seed)
    columns = ModelColumns.from_contract()
    data: dict[str, object] = {
        LOAN_ID: np.arange(rows) + 1,
        EVENT_TIMESTAMP: pd.Timestamp("2026-01-01", tz="UTC")
        + pd.to_timedelta(rng.integers(0, 300 * 86_400, rows), unit="s"),
        "dob_ssn": [f"1980{(i % 12) + 1:02d}01_{i % 9999 + 1:04d}" for i in range(rows)],
        "zipcode": rng.integers(1_000, 99_000, rows),
    }
    for column in columns.all:
        if column.kind == "string":
            values = rng.choice(["A", "B", "C", "D"], rows).astype(object)
            values[rng.random(rows) < 0.05] = None
            data[column.name] = values
        else:
            values = rng.normal(size=rows) * 10
            values[rng.random(rows) < 0.05] = np.nan
            data[column.name] = values
    score = np.nan_to_num(np.asarray(data["loan_int_rate"], dtype=float)) / 10
    score += np.where(np.asarray(data["loan_intent"]) == "A", 1.5, 0.0)
    data[LABEL] = (score + rng.normal(size=rows) > 0.8).astype(np.int64)
    return canonical_frame(pd.DataFrame(data), columns)


@pytest.fixture
def frame() -> pd.DataFrame:
    return synthetic_frame()
