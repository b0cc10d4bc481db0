"""The Postgres offline store: table layout derived from the contract, idempotent bulk appends.

Feast's Postgres offline store can read (point-in-time joins) but not write, so the history
loader and the stream processor append here directly. Every feature row carries an `event_id`
(primary key): appending the same event twice leaves one row.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Self

import psycopg2
from psycopg2 import sql

from core.contract import (
    CREATED_TIMESTAMP,
    EVENT_ID,
    EVENT_TIMESTAMP,
    LOAN_COLUMNS,
    LOAN_TABLE,
    VIEWS,
    Column,
    ViewContract,
)
from core.errors import OfflineStoreError
from core.settings import Settings

if TYPE_CHECKING:
    import pandas as pd  # frames come only from the bulk history path (not the processor)

log = logging.getLogger(__name__)

# Namespace of the deterministic event ids given to history rows (so a reload is a no-op).
HISTORY_NAMESPACE = uuid.UUID("6f1c2f55-0e0b-4b59-9d7a-3c1d5b0b8e21")


def view_columns(view: ViewContract) -> list[str]:
    """Column order of a feature view's offline table."""
    return [EVENT_ID, *(c.name for c in view.row_columns), EVENT_TIMESTAMP, CREATED_TIMESTAMP]


def loan_columns() -> list[str]:
    return [*(c.name for c in LOAN_COLUMNS), EVENT_TIMESTAMP, CREATED_TIMESTAMP]


def _column_defs(columns: Sequence[Column]) -> list[sql.Composable]:
    return [sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.sql_type)) for c in columns]


def _ddl(schema: str) -> list[sql.Composable]:
    stmts: list[sql.Composable] = [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
    ]
    timestamps = [
        sql.SQL("{} TIMESTAMPTZ NOT NULL").format(sql.Identifier(EVENT_TIMESTAMP)),
        sql.SQL("{} TIMESTAMPTZ NOT NULL").format(sql.Identifier(CREATED_TIMESTAMP)),
    ]
    for view in VIEWS:
        table = sql.Identifier(schema, view.table)
        entity = sql.SQL("{} {} NOT NULL").format(
            sql.Identifier(view.entity.name), sql.SQL(view.entity.sql_type)
        )
        cols = [
            sql.SQL("{} TEXT PRIMARY KEY").format(sql.Identifier(EVENT_ID)),
            entity,
            *_column_defs(view.features),
            *timestamps,
        ]
        stmts.append(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(table, sql.SQL(", ").join(cols))
        )
        # Point-in-time joins and "latest per entity" scan by entity then time.
        stmts.append(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({}, {})").format(
                sql.Identifier(f"{view.table}_entity_ts"),
                table,
                sql.Identifier(view.entity.name),
                sql.Identifier(EVENT_TIMESTAMP),
            )
        )
    loan_id, *rest = LOAN_COLUMNS
    loan_cols = [
        sql.SQL("{} BIGINT PRIMARY KEY").format(sql.Identifier(loan_id.name)),
        *_column_defs(rest),
        *timestamps,
    ]
    stmts.append(
        sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
            sql.Identifier(schema, LOAN_TABLE), sql.SQL(", ").join(loan_cols)
        )
    )
    return stmts


def history_event_ids(view: ViewContract, frame: pd.DataFrame) -> list[str]:
    """Deterministic ids for history rows: same entity and time -> same id."""
    keys = frame[view.entity.name].astype(str)
    stamps = frame[EVENT_TIMESTAMP].map(lambda ts: ts.isoformat())
    return [
        str(uuid.uuid5(HISTORY_NAMESPACE, f"{view.name}|{k}|{t}"))
        for k, t in zip(keys, stamps, strict=True)
    ]


class PostgresOfflineWriter:
    """Creates the offline tables and appends rows to them, idempotently, with COPY."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._schema = settings.postgres_schema
        self._conn: Any = None
        self._closing = threading.Lock()

    # -- connection ------------------------------------------------------------------------

    def connect(self) -> None:
        if self._conn is not None and not self._conn.closed:
            return
        try:
            self._conn = psycopg2.connect(**self._settings.postgres_connect_kwargs())
        except psycopg2.OperationalError as exc:
            raise OfflineStoreError(
                f"cannot connect to Postgres at {self._settings.postgres_url_masked}: "
                f"{str(exc).strip()}"
            ) from exc

    def close(self) -> None:
        with self._closing:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def abort(self) -> None:
        """Break the connection under a call blocked on it, from any thread.

        A server that hangs (stopped, or a host that vanished) keeps the TCP connection open,
        so neither the statement timeout nor keepalives end a blocked call; shutting the socket
        down makes it fail at once with "server closed the connection", and the caller opens a
        new connection on its next attempt.
        """
        # Under the lock, the descriptor cannot be closed (and reused) while it is duplicated.
        with self._closing, contextlib.suppress(OSError, psycopg2.Error):
            conn = self._conn
            if conn is None or conn.closed:
                return
            # A duplicate of libpq's descriptor: shutdown acts on the socket, close on the dup.
            with socket.socket(fileno=os.dup(conn.fileno())) as sock:
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ----------------------------------------------------------------------------

    def create_tables(self) -> None:
        """Create the schema, the two feature tables and the loan table (idempotent)."""
        self.connect()
        with self._conn, self._conn.cursor() as cur:
            for stmt in _ddl(self._schema):
                cur.execute(stmt)

    # -- appends ---------------------------------------------------------------------------

    def append_csv(self, table: str, columns: Sequence[str], key: str, payload: io.StringIO) -> int:
        """COPY CSV rows into `table` through a staging table; rows whose `key` exists are
        skipped. Returns the number of rows inserted. One transaction."""
        self.connect()
        staging = sql.Identifier(f"_staging_{table}")
        target = sql.Identifier(self._schema, table)
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        with self._conn, self._conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) "
                    "ON COMMIT DELETE ROWS"
                ).format(staging, target)
            )
            cur.copy_expert(
                sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)")
                .format(staging, cols)
                .as_string(cur),
                payload,
            )
            cur.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) DO NOTHING").format(
                    target, cols, cols, staging, sql.Identifier(key)
                )
            )
            inserted: int = cur.rowcount
        return inserted

    def append_rows(self, view: ViewContract, rows: Iterable[Sequence[Any]]) -> int:
        """Append rows in `view_columns(view)` order (the stream processor's path)."""
        buf = io.StringIO()
        writer = csv.writer(buf, quoting=csv.QUOTE_MINIMAL)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
        buf.seek(0)
        return self.append_csv(view.table, view_columns(view), EVENT_ID, buf)

    def append_frame(self, table: str, columns: list[str], key: str, frame: pd.DataFrame) -> int:
        """Append a DataFrame's `columns` (the bulk history path)."""
        buf = io.StringIO()
        frame.to_csv(
            buf, columns=columns, index=False, header=False, date_format="%Y-%m-%d %H:%M:%S.%f%z"
        )
        buf.seek(0)
        return self.append_csv(table, columns, key, buf)

    def append_view_history(self, view: ViewContract, frame: pd.DataFrame) -> int:
        frame = frame.assign(**{EVENT_ID: history_event_ids(view, frame)})
        return self.append_frame(view.table, view_columns(view), EVENT_ID, frame)

    def append_loans(self, frame: pd.DataFrame) -> int:
        return self.append_frame(LOAN_TABLE, loan_columns(), LOAN_COLUMNS[0].name, frame)

    # -- reads -----------------------------------------------------------------------------

    def registered_feature_views(self, project: str) -> set[str]:
        """Names of the feature views of `project` in Feast's SQL registry (its `feature_views`
        table, in the connection's default schema); empty before `credit-pipeline init`."""
        self.connect()
        with self._conn, self._conn.cursor() as cur:
            cur.execute("SELECT to_regclass('feature_views') IS NOT NULL")
            (exists,) = cur.fetchone()
            if not exists:
                return set()
            cur.execute(
                "SELECT feature_view_name FROM feature_views WHERE project_id = %s", (project,)
            )
            return {name for (name,) in cur.fetchall()}

    def count(self, table: str) -> int:
        self.connect()
        with self._conn, self._conn.cursor() as cur:
            cur.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(self._schema, table))
            )
            (n,) = cur.fetchone()
        return int(n)

    def time_range(self, table: str) -> tuple[Any, Any]:
        """(min, max) event_timestamp of a table; (None, None) when empty."""
        self.connect()
        with self._conn, self._conn.cursor() as cur:
            cur.execute(
                sql.SQL("SELECT min({c}), max({c}) FROM {t}").format(
                    c=sql.Identifier(EVENT_TIMESTAMP), t=sql.Identifier(self._schema, table)
                )
            )
            lo, hi = cur.fetchone()
        return lo, hi
