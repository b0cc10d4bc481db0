"""The training frame: loans from Postgres, point-in-time joined by Feast, split by time."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import psycopg2
from psycopg2 import sql

from core.console import progress_bar
from core.contract import ENTITY_KEYS, EVENT_TIMESTAMP, LOAN_COLUMNS, LOAN_TABLE
from core.model.columns import LABEL, LOAN_ID, ModelColumns
from core.model.errors import NoTrainingDataError, TrainingError
from core.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore

log = logging.getLogger(__name__)

ENTITY_NAMES = list(ENTITY_KEYS)
_LOAN_NAMES = [c.name for c in LOAN_COLUMNS]
_LOAN_KINDS = {c.name: c.kind for c in LOAN_COLUMNS}
# Loans per point-in-time query. Feast's Postgres join SQL gets a nested-loop plan whose cost
# grows with the square of the entity rows (30k loans: ~230 s in one query); chunks of 1000
# loans in time order take ~0.2 s each (~5 s for 30k).
PIT_CHUNK_ROWS = 1000
_UTC_NS = "datetime64[ns, UTC]"


def read_loans(settings: Settings) -> pd.DataFrame:
    """Every loan of the offline loan table; NoTrainingDataError when it is missing or empty."""
    schema = settings.postgres_schema
    where = f"{schema}.{LOAN_TABLE} in {settings.postgres_url_masked}"
    try:
        conn = psycopg2.connect(**settings.postgres_connect_kwargs())
    except psycopg2.OperationalError as exc:
        raise TrainingError(
            f"cannot connect to the offline store ({settings.postgres_url_masked}): "
            f"{str(exc).strip()}. Is the stack up (`credit-pipeline stack up`)?"
        ) from exc
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", (f'"{schema}"."{LOAN_TABLE}"',))
            if cur.fetchone()[0] is None:
                raise NoTrainingDataError(
                    f"there is no loan table {where}: load a history first (`credit-pipeline init`)"
                )
            columns = [*_LOAN_NAMES, EVENT_TIMESTAMP]
            cur.execute(
                sql.SQL("SELECT {} FROM {}").format(
                    sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                    sql.Identifier(schema, LOAN_TABLE),
                )
            )
            rows = cur.fetchall()
    finally:
        conn.close()
    if not rows:
        raise NoTrainingDataError(
            f"the loan table {where} is empty: load a history first (`credit-pipeline init`)"
        )
    return _typed_loans(pd.DataFrame(rows, columns=columns))


def _typed_loans(loans: pd.DataFrame) -> pd.DataFrame:
    """Loans with contract dtypes; rows without an id, entity key, label or time are dropped."""
    required = [LOAN_ID, *ENTITY_NAMES, LABEL, EVENT_TIMESTAMP]
    complete = loans[required].notna().all(axis=1)
    if not complete.all():
        log.warning("skipping %d loans without %s", int((~complete).sum()), ", ".join(required))
        loans = loans[complete]
    typed: dict[str, Any] = {}
    for name in _LOAN_NAMES:
        kind = _LOAN_KINDS[name]
        if kind == "string":
            typed[name] = loans[name].astype(object)
        elif name in required:
            typed[name] = loans[name].astype("int64")
        else:
            typed[name] = pd.to_numeric(loans[name], errors="coerce")
    typed[EVENT_TIMESTAMP] = pd.to_datetime(loans[EVENT_TIMESTAMP], utc=True)
    return pd.DataFrame(typed).reset_index(drop=True)


def join_features(
    store: FeatureStore,
    service: FeatureService,
    loans: pd.DataFrame,
    columns: ModelColumns,
    chunk_rows: int = PIT_CHUNK_ROWS,
) -> pd.DataFrame:
    """Feast's point-in-time join of `loans` with the service's views, in canonical form."""
    entity_df = loans[
        [LOAN_ID, *ENTITY_NAMES, *(c.name for c in columns.request), LABEL, EVENT_TIMESTAMP]
    ].sort_values([EVENT_TIMESTAMP, LOAN_ID])
    parts = []
    with progress_bar(len(entity_df), "point-in-time join", unit="loans") as bar:
        for start in range(0, len(entity_df), chunk_rows):
            chunk = entity_df.iloc[start : start + chunk_rows]
            try:
                joined_chunk = store.get_historical_features(entity_df=chunk, features=service)
                parts.append(joined_chunk.to_df())
            except Exception as exc:  # Feast raises many types; the message is what users need
                raise TrainingError(
                    f"the point-in-time join of loans with feature service {service.name!r} "
                    f"failed ({type(exc).__name__}: {exc}). Has `credit-pipeline init` applied "
                    "the feature repository?"
                ) from exc
            bar.update(len(chunk))
    joined = pd.concat(parts, ignore_index=True)
    if len(joined) != len(entity_df) or joined[LOAN_ID].duplicated().any():
        raise TrainingError(
            f"the point-in-time join returned {len(joined)} rows for {len(entity_df)} loans"
        )
    return canonical_frame(joined, columns)


def canonical_frame(frame: pd.DataFrame, columns: ModelColumns) -> pd.DataFrame:
    """Fixed column order, dtypes and row order, so equal data always hashes equally."""
    out: dict[str, Any] = {
        LOAN_ID: frame[LOAN_ID].astype("int64"),
        # Feast returns microseconds or nanoseconds depending on the path: always ns.
        EVENT_TIMESTAMP: pd.to_datetime(frame[EVENT_TIMESTAMP], utc=True).astype(_UTC_NS),
    }
    for name in ENTITY_NAMES:
        out[name] = frame[name].astype("int64" if ENTITY_KEYS[name].kind == "int64" else object)
    for column in columns.all:
        values = frame[column.name]
        if column.kind == "string":
            # Missing strings are NaN (Feast gives NaN or None): scikit-learn's encoders take
            # NaN as missing but None as one more category, and the API's compiled scorer
            # treats both as missing.
            out[column.name] = values.astype(object).where(values.notna(), np.nan)
        else:
            # Feast turns int64 features into float64 as soon as one is null: always float.
            out[column.name] = values.astype("float64")
    out[LABEL] = frame[LABEL].astype("int64")
    canonical = pd.DataFrame(out)
    return canonical.sort_values([EVENT_TIMESTAMP, LOAN_ID], kind="stable", ignore_index=True)


def frame_sha256(frame: pd.DataFrame) -> str:
    """SHA-256 of a canonical frame's columns, dtypes and values."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[c, str(frame[c].dtype)] for c in frame.columns]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class TimeSplit:
    """Earlier loans to fit on, the latest loans to evaluate on."""

    train: pd.DataFrame
    test: pd.DataFrame

    @property
    def split_at(self) -> pd.Timestamp:
        """The first test loan's time: every training loan is strictly earlier."""
        return self.test[EVENT_TIMESTAMP].iloc[0]


def time_split(frame: pd.DataFrame, test_fraction: float) -> TimeSplit:
    """The latest `test_fraction` of a canonical frame (by event time) becomes the test set."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    times = frame[EVENT_TIMESTAMP]
    first_test = len(frame) - max(1, math.ceil(len(frame) * test_fraction))
    # Loans at the same instant stay on one side, so no test loan precedes a training loan.
    cut = times.iloc[max(first_test, 0)]
    train, test = frame[times < cut], frame[times >= cut]
    for name, part in (("training", train), ("test", test)):
        classes = set(part[LABEL].unique())
        if classes != {0, 1}:
            raise NoTrainingDataError(
                f"the {name} part of the time split ({len(part)} loans) does not hold both "
                f"outcomes (found {sorted(classes)}); train on more history "
                "(`credit-pipeline init --persons N`)"
            )
    return TimeSplit(train.reset_index(drop=True), test.reset_index(drop=True))
