"""`train` against the real stack: the artifact matches its point-in-time frame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import psycopg2
import pytest

from core.contract import (
    CREDIT_HISTORY,
    EVENT_TIMESTAMP,
    LOAN_TABLE,
    ZIPCODE_FEATURES,
    ViewContract,
    scoring_feature_refs,
    scoring_service,
)
from core.feast_store import open_store
from core.model.artifact import load_artifact
from core.model.columns import LOAN_ID, ModelColumns
from core.model.errors import NoTrainingDataError
from core.offline_store import PostgresOfflineWriter
from core.settings import Settings
from credit_pipeline.init_store import run_init
from history import History, generate_history
from training.frame import frame_sha256, join_features, read_loans
from training.train import TrainingResult, train_model

pytestmark = pytest.mark.integration

SEED = 101
# Other modules load histories whose loan ids start at the same number; ours are moved away.
LOAN_ID_OFFSET = 700_000_000


@pytest.fixture(scope="module")
def history() -> History:
    generated = generate_history(persons=3_000, zipcodes=500, seed=SEED)
    loans = generated.loans.assign(**{LOAN_ID: generated.loans[LOAN_ID] + LOAN_ID_OFFSET})
    return History(generated.zipcodes, generated.credit_history, loans)


@pytest.fixture(scope="module")
def trained(
    stack_settings: Settings, history: History, tmp_path_factory: pytest.TempPathFactory
) -> TrainingResult:
    run_init(stack_settings, history)
    return train_model(stack_settings, model_dir=tmp_path_factory.mktemp("models"))


def _table(settings: Settings, table: str) -> pd.DataFrame:
    with psycopg2.connect(**settings.postgres_connect_kwargs()) as conn, conn.cursor() as cur:
        cur.execute(f'SELECT * FROM "{settings.postgres_schema}"."{table}"')
        columns = [d.name for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=columns)


def test_the_artifact_describes_its_frame(
    trained: TrainingResult, stack_settings: Settings
) -> None:
    meta = trained.metadata
    loans_in_store = len(_table(stack_settings, LOAN_TABLE))
    assert meta.rows == len(trained.frame) == loans_in_store
    assert meta.frame_sha256 == frame_sha256(trained.frame)
    assert meta.feature_refs == scoring_feature_refs()
    assert meta.feature_service == scoring_service().name
    assert load_artifact(trained.path.parent, meta.version).metadata == meta


def test_the_same_offline_data_gives_the_same_frame(
    trained: TrainingResult, stack_settings: Settings
) -> None:
    columns = ModelColumns.from_contract()
    again = join_features(
        open_store(stack_settings), scoring_service(), read_loans(stack_settings), columns
    )
    assert frame_sha256(again) == trained.metadata.frame_sha256


def test_the_model_beats_the_baselines(trained: TrainingResult) -> None:
    metrics = trained.metadata.metrics
    model, tree, majority = metrics["model"], metrics["decision_tree"], metrics["majority"]
    assert model["roc_auc"] > majority["roc_auc"] + 0.2
    assert model["roc_auc"] > tree["roc_auc"]
    assert model["log_loss"] < majority["log_loss"]
    assert 0 < model["approval_rate"] < 1


def _plain(value: object, kind: str) -> object:
    """None for missing, float for numbers (the frame's int64 features are float64)."""
    if pd.isna(value):
        return None
    return value if kind == "string" else float(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("view", [CREDIT_HISTORY, ZIPCODE_FEATURES], ids=lambda v: v.name)
def test_each_loan_sees_the_latest_snapshot_not_after_it(
    trained: TrainingResult, stack_settings: Settings, history: History, view: ViewContract
) -> None:
    ours = trained.frame[trained.frame[LOAN_ID].isin(history.loans[LOAN_ID])]
    assert len(ours) == len(history.loans)
    key = view.entity.name
    snapshots = _table(stack_settings, view.table)
    snapshots = snapshots[snapshots[key].isin(ours[key])]
    snapshots[EVENT_TIMESTAMP] = pd.to_datetime(snapshots[EVENT_TIMESTAMP], utc=True).astype(
        "datetime64[ns, UTC]"
    )
    snapshots = snapshots.sort_values([EVENT_TIMESTAMP, "created_timestamp"])
    expected = pd.merge_asof(
        ours[[LOAN_ID, key, EVENT_TIMESTAMP]].sort_values(EVENT_TIMESTAMP),
        snapshots[[key, EVENT_TIMESTAMP, *view.feature_names]],
        on=EVENT_TIMESTAMP,
        by=key,
        direction="backward",  # at or before the loan, never after
        tolerance=pd.Timedelta(view.view.ttl),
    ).set_index(LOAN_ID)
    got = ours.set_index(LOAN_ID)
    for column in view.features:
        want = [_plain(v, column.kind) for v in expected.loc[got.index, column.name]]
        assert [_plain(v, column.kind) for v in got[column.name]] == want, column.name
    if view is CREDIT_HISTORY:
        # Some applicants applied before their first report: the join leaves them empty.
        assert got[view.feature_names[0]].isna().any()


def test_no_loan_table_is_refused(stack_settings: Settings, tmp_path: Path) -> None:
    settings = stack_settings.model_copy(update={"postgres_schema": "no_history_here"})
    with pytest.raises(NoTrainingDataError, match="credit-pipeline init"):
        train_model(settings, model_dir=tmp_path)


def test_an_empty_loan_table_is_refused(stack_settings: Settings, tmp_path: Path) -> None:
    settings = stack_settings.model_copy(update={"postgres_schema": "empty_history"})
    with PostgresOfflineWriter(settings) as writer:
        writer.create_tables()
    with pytest.raises(NoTrainingDataError, match="is empty"):
        train_model(settings, model_dir=tmp_path)
    assert not list(tmp_path.iterdir())
