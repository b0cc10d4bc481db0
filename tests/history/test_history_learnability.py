"""A model trained on the point-in-time join of the generated history can predict default."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from core import contract
from core.contract import CREATED_TIMESTAMP, EVENT_TIMESTAMP
from core.history_schema import LABEL
from history import History

FEATURES = [
    c.name
    for c in (
        *contract.LOAN_REQUEST_COLUMNS,
        *contract.CREDIT_HISTORY.features,
        *contract.ZIPCODE_FEATURES.features,
    )
]


def point_in_time_join(history: History) -> pd.DataFrame:
    """Each loan with the credit report and zipcode row in force at its time (within the TTL)."""
    joined = history.loans.sort_values(EVENT_TIMESTAMP)
    for view, table in (
        (contract.CREDIT_HISTORY, history.credit_history),
        (contract.ZIPCODE_FEATURES, history.zipcodes),
    ):
        joined = pd.merge_asof(
            joined,
            table.drop(columns=CREATED_TIMESTAMP).sort_values(EVENT_TIMESTAMP),
            on=EVENT_TIMESTAMP,
            by=view.entity.name,
            tolerance=pd.Timedelta(view.view.ttl),
        )
    return joined


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """Strings as category codes (-1 = missing), everything else as float."""
    return pd.DataFrame(
        {
            name: frame[name].astype("category").cat.codes.replace(-1, np.nan)
            if frame[name].dtype == object
            else frame[name].astype(float)
            for name in FEATURES
        }
    )


@pytest.fixture(scope="module")
def joined(learn_history: History) -> pd.DataFrame:
    return point_in_time_join(learn_history)


def test_join_has_the_contracts_columns_and_some_nulls(joined: pd.DataFrame) -> None:
    assert set(FEATURES) <= set(joined.columns)
    credit_missing = joined[contract.CREDIT_HISTORY.feature_names].isna().all(axis=1)
    assert 0.02 < credit_missing.mean() < 0.10  # loans before the person's first report
    assert not joined[contract.ZIPCODE_FEATURES.feature_names].isna().any().any()


def test_default_rate_is_realistic(joined: pd.DataFrame) -> None:
    assert 0.18 < joined[LABEL].mean() < 0.30


def test_a_worse_credit_history_raises_default(joined: pd.DataFrame) -> None:
    bad = (joined["bankruptcies"] > 0) | (joined["missed_payments_1y"] >= 3)
    clean = (joined["bankruptcies"] == 0) & (joined["missed_payments_2y"] == 0)
    assert bad.sum() > 100 and clean.sum() > 1_000
    assert joined.loc[bad, LABEL].mean() > 3 * joined.loc[clean, LABEL].mean()


def test_gradient_boosting_learns_default_on_a_time_holdout(joined: pd.DataFrame) -> None:
    # joined is in time order: train on the earliest 80%, score the latest 20%.
    cut = int(len(joined) * 0.8)
    features, label = _numeric(joined), joined[LABEL].to_numpy()
    model = HistGradientBoostingClassifier(random_state=0).fit(features[:cut], label[:cut])
    auc = roc_auc_score(label[cut:], model.predict_proba(features[cut:])[:, 1])
    assert auc > 0.85
