"""Point-in-time joins over the offline store, on a small hand-made history."""

from __future__ import annotations

import pandas as pd
import pytest

from core.contract import (
    CREATED_TIMESTAMP,
    CREDIT_HISTORY,
    EVENT_TIMESTAMP,
    ZIPCODE_FEATURES,
    scoring_service,
)
from core.feast_store import apply_definitions, open_store
from core.offline_store import PostgresOfflineWriter
from core.settings import Settings

pytestmark = pytest.mark.integration

PERSON = "19000101_0042"  # not a key the generator makes
ZIP = 99_042


def _ts(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def _snapshot(when: str, value: int) -> dict[str, object]:
    row: dict[str, object] = {c.name: value for c in CREDIT_HISTORY.features}
    row.update({"dob_ssn": PERSON, EVENT_TIMESTAMP: _ts(when), CREATED_TIMESTAMP: _ts(when)})
    return row


def test_a_loan_sees_the_latest_snapshot_not_after_it(stack_settings: Settings) -> None:
    credit = pd.DataFrame([_snapshot("2025-03-01", 1), _snapshot("2025-06-01", 5)])
    zipcode = {c.name: (7 if c.kind == "int64" else "X") for c in ZIPCODE_FEATURES.features}
    zipcode.update(
        {"zipcode": ZIP, EVENT_TIMESTAMP: _ts("2024-01-01"), CREATED_TIMESTAMP: _ts("2024-01-01")}
    )
    with PostgresOfflineWriter(stack_settings) as writer:
        writer.create_tables()
        writer.append_view_history(CREDIT_HISTORY, credit)
        writer.append_view_history(ZIPCODE_FEATURES, pd.DataFrame([zipcode]))
    store = open_store(stack_settings)
    apply_definitions(store)

    loans = pd.DataFrame(
        {
            "dob_ssn": [PERSON] * 4,
            "zipcode": [ZIP] * 4,
            EVENT_TIMESTAMP: [
                _ts("2025-02-01"),  # before the first report -> nulls
                _ts("2025-03-01"),  # at the first report -> it (not after)
                _ts("2025-05-31"),  # between -> the first
                _ts("2025-07-01"),  # after both -> the second
            ],
        }
    )
    frame = store.get_historical_features(entity_df=loans, features=scoring_service()).to_df()
    frame = frame.sort_values(EVENT_TIMESTAMP).reset_index(drop=True)

    assert frame.loc[0, "missed_payments_1y"] != frame.loc[0, "missed_payments_1y"]  # NaN
    assert frame["missed_payments_1y"].tolist()[1:] == [1, 1, 5]
    assert frame["bankruptcies"].tolist()[1:] == [1, 1, 5]
    # The zipcode snapshot (a year older, inside its TTL) joins to every loan.
    assert frame["tax_returns_filed"].tolist() == [7, 7, 7, 7]
