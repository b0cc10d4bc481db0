"""Read and write the Feast credit-scoring tutorial's parquet files as a `History`."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa

from core.contract import CREATED_TIMESTAMP, EVENT_TIMESTAMP
from core.history import History
from core.history_schema import TABLES, TIMESTAMPS, HistoryDataError, TableSpec
from history.coerce import coerce_column, coerce_timestamp
from history.validate import require_columns, validate_history

log = logging.getLogger(__name__)


def load_tutorial_parquet(directory: Path) -> History:
    """Read loan_table, zipcode_table and credit_history parquet files from `directory`."""
    directory = Path(directory)
    frames = {spec.name: _read_table(directory / spec.file, spec) for spec in TABLES}
    history = validate_history(History(**frames), directory)
    log.info(
        "read history from %s: %d zipcode rows, %d credit reports, %d loans",
        directory,
        len(history.zipcodes),
        len(history.credit_history),
        len(history.loans),
    )
    return history


def save_history_parquet(history: History, directory: Path) -> list[Path]:
    """Write the three tables under the tutorial's file names; return the paths written."""
    directory = Path(directory)
    validate_history(history)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec, frame in history.tables():
        path = directory / spec.file
        frame.to_parquet(path, index=False)
        paths.append(path)
    return paths


def _read_table(path: Path, spec: TableSpec) -> pd.DataFrame:
    source = str(path)
    if not path.is_file():
        raise HistoryDataError(
            source, None, f"file not found; expected columns {spec.column_names}"
        )
    try:
        raw = pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise HistoryDataError(source, None, f"not a readable parquet file: {exc}") from exc
    require_columns(raw.columns, spec, source)
    extra = [name for name in raw.columns if name not in spec.column_names]
    if extra:
        log.info("%s: ignoring columns the pipeline does not use: %s", source, extra)
    columns = {c.name: coerce_column(raw[c.name], c.kind, source) for c in spec.columns}
    columns.update({name: coerce_timestamp(raw[name], source) for name in TIMESTAMPS})
    frame = pd.DataFrame(columns).reset_index(drop=True)
    return _latest_per_key(frame, spec, source) if EVENT_TIMESTAMP in spec.key else frame


def _latest_per_key(frame: pd.DataFrame, spec: TableSpec, source: str) -> pd.DataFrame:
    """Keep one row per (entity, event time): the latest created, which is the row Feast serves."""
    repeated = frame.duplicated(subset=list(spec.key), keep=False)
    if not repeated.any():
        return frame
    kept = (
        frame.sort_values(CREATED_TIMESTAMP, kind="stable")
        .drop_duplicates(subset=list(spec.key), keep="last")
        .sort_index()
        .reset_index(drop=True)
    )
    log.warning(
        "%s: %d rows share (%s) with another row; kept the latest %s of each (%d dropped)",
        source,
        int(repeated.sum()),
        ", ".join(spec.key),
        CREATED_TIMESTAMP,
        len(frame) - len(kept),
    )
    return kept
