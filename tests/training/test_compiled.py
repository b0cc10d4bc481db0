"""The API's compiled scorer gives scikit-learn's probabilities, for any row it may see."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.model.columns import LABEL, ModelColumns
from core.model.compiled import CompiledModel
from training.estimators import boosting_pipeline
from training.train import model_rows


def test_compiled_probabilities_equal_predict_proba(frame: pd.DataFrame) -> None:
    columns = ModelColumns.from_contract()
    pipeline = boosting_pipeline(columns).fit(frame, frame[LABEL])
    compiled = CompiledModel(pipeline, columns)

    probe = frame.head(300).copy()
    string_columns = columns.categorical
    # Categories never seen in training, missing strings and missing numbers.
    probe.loc[probe.index[:20], string_columns[0]] = "NEVER-SEEN"
    probe.loc[probe.index[20:40], string_columns[-1]] = None
    probe.loc[probe.index[40:60], columns.numeric] = np.nan
    expected = pipeline.predict_proba(probe)[:, 1]
    got = [compiled.predict_one(row) for row in model_rows(probe, columns)]

    assert compiled.n_trees > 1
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_none_as_a_trained_category_is_mirrored(frame: pd.DataFrame) -> None:
    columns = ModelColumns.from_contract()
    with_none = frame.copy()
    for name in columns.categorical:  # None (not NaN) is a category of its own to sklearn
        with_none[name] = with_none[name].astype(object).where(with_none[name].notna(), None)
    pipeline = boosting_pipeline(columns).fit(with_none, with_none[LABEL])
    compiled = CompiledModel(pipeline, columns)
    expected = pipeline.predict_proba(with_none.head(300))[:, 1]
    got = [compiled.predict_one(row) for row in model_rows(with_none.head(300), columns)]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_compiled_scoring_of_one_row_is_fast(frame: pd.DataFrame) -> None:
    import time

    columns = ModelColumns.from_contract()
    compiled = CompiledModel(boosting_pipeline(columns).fit(frame, frame[LABEL]), columns)
    rows = model_rows(frame.head(200), columns)
    started = time.perf_counter()
    for row in rows:
        compiled.predict_one(row)
    per_row = (time.perf_counter() - started) / len(rows)
    # ~40 µs on the 2-core dev machine; the bound only catches a fall back to pandas (~ms).
    assert per_row < 0.001
