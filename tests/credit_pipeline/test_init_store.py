"""`init` against the real stack: counts in Postgres, latest values in Redis, idempotence."""

from __future__ import annotations

import pandas as pd
import psycopg2
import pytest

from core.contract import CREDIT_HISTORY, EVENT_TIMESTAMP, LOAN_TABLE, ZIPCODE_FEATURES
from core.feast_store import open_store
from core.settings import Settings
from credit_pipeline.init_store import run_init
from history import History, generate_history

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def history() -> History:
    return generate_history(persons=1_500, zipcodes=400, seed=11)


@pytest.fixture(scope="module")
def initialised(private_stack_settings: Settings, history: History) -> Settings:
    # A stack of its own: other modules load other histories into the shared one.
    run_init(private_stack_settings, history)
    return private_stack_settings


def _counts(settings: Settings) -> dict[str, int]:
    tables = (CREDIT_HISTORY.table, ZIPCODE_FEATURES.table, LOAN_TABLE)
    with psycopg2.connect(**settings.postgres_connect_kwargs()) as conn, conn.cursor() as cur:
        counts = {}
        for table in tables:
            cur.execute(f'SELECT count(*) FROM "{settings.postgres_schema}"."{table}"')
            counts[table] = cur.fetchone()[0]
    return counts


def _latest(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    return frame.sort_values(EVENT_TIMESTAMP).groupby(key).tail(1).set_index(key)


def test_row_counts_match_the_generated_history(initialised: Settings, history: History) -> None:
    assert _counts(initialised) == {
        CREDIT_HISTORY.table: len(history.credit_history),
        ZIPCODE_FEATURES.table: len(history.zipcodes),
        LOAN_TABLE: len(history.loans),
    }


def test_online_values_are_the_latest_offline_snapshot(
    initialised: Settings, history: History
) -> None:
    store = open_store(initialised)
    for view, frame in (
        (CREDIT_HISTORY, history.credit_history),
        (ZIPCODE_FEATURES, history.zipcodes),
    ):
        latest = _latest(frame, view.entity.name)
        sample = latest.sample(n=25, random_state=3)
        rows = [{view.entity.name: key} for key in sample.index.tolist()]
        online = store.get_online_features(features=view.feature_refs(), entity_rows=rows).to_df()
        online = online.set_index(view.entity.name)
        for feature in view.feature_names:
            expected = sample[feature].tolist()
            got = online.loc[sample.index, feature].tolist()
            assert got == expected, f"{view.name}.{feature}"


def test_init_twice_leaves_the_same_counts(
    initialised: Settings, history: History, capfd: pytest.CaptureFixture[str]
) -> None:
    before = _counts(initialised)
    report = run_init(initialised, history)
    assert _counts(initialised) == before
    assert set(report.inserted.values()) == {0}
    out, err = capfd.readouterr()
    # Feast's coloured materialization banner does not reach a terminal or a log file.
    assert "\x1b" not in out + err
    assert "Materializing" not in out
