"""Existing entities and their current rows: where random updates start from."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg2
from psycopg2 import sql

from core.contract import CREATED_TIMESTAMP, EVENT_TIMESTAMP, VIEWS, ViewContract
from core.errors import OfflineStoreError
from core.settings import Settings

if TYPE_CHECKING:
    # Only a pool built from a history frame needs pandas: `produce stream` on an initialised
    # store reads its entities with plain SQL and starts without it.
    import pandas as pd

    from core.history import History

log = logging.getLogger(__name__)

MAX_ENTITIES_PER_VIEW = 100_000  # plenty of variety; bounds memory and start-up time


@dataclass(frozen=True)
class EntityPool:
    """The latest full row (entity key and every feature) of existing entities, per view."""

    rows: Mapping[str, Sequence[dict[str, Any]]]

    def of(self, view: ViewContract) -> Sequence[dict[str, Any]]:
        return self.rows.get(view.name, ())

    @property
    def empty(self) -> bool:
        return not any(self.rows.values())

    def describe(self) -> str:
        return ", ".join(f"{len(self.of(v)):,} {v.entity.name}" for v in VIEWS)


def pool_from_history(history: History, limit: int = MAX_ENTITIES_PER_VIEW) -> EntityPool:
    """Each entity's latest history row."""
    from producers.replay import view_frames

    rows: dict[str, list[dict[str, Any]]] = {}
    for view, frame in view_frames(history):
        names = [c.name for c in view.row_columns]
        latest = (
            frame.sort_values(EVENT_TIMESTAMP, kind="stable")
            .groupby(view.entity.name, sort=True)
            .tail(1)
            .sort_values(view.entity.name)
            .head(limit)
        )
        rows[view.name] = _records(latest[names])
    return EntityPool(rows)


def pool_from_offline_store(settings: Settings, limit: int = MAX_ENTITIES_PER_VIEW) -> EntityPool:
    """Each entity's latest row in the offline tables (written by `init` and the processor)."""
    try:
        conn = psycopg2.connect(**settings.postgres_connect_kwargs())
    except psycopg2.OperationalError as exc:
        raise OfflineStoreError(
            f"cannot connect to Postgres at {settings.postgres_url_masked}: {str(exc).strip()}"
        ) from exc
    try:
        with conn, conn.cursor() as cur:
            rows = {
                view.name: _latest_rows(cur, settings.postgres_schema, view, limit)
                for view in VIEWS
            }
    except psycopg2.Error as exc:
        raise OfflineStoreError(
            f"cannot read the offline tables in {settings.postgres_url_masked}: {str(exc).strip()} "
            "(run `credit-pipeline init` first)"
        ) from exc
    finally:
        conn.close()
    return EntityPool(rows)


def _latest_rows(cur: Any, schema: str, view: ViewContract, limit: int) -> list[dict[str, Any]]:
    names = [c.name for c in view.row_columns]
    entity = sql.Identifier(view.entity.name)
    # DISTINCT ON walks the (entity, event_timestamp) index that the offline table carries.
    query = sql.SQL(
        "SELECT DISTINCT ON ({entity}) {cols} FROM {table} "
        "ORDER BY {entity}, {ts} DESC, {created} DESC LIMIT %s"
    ).format(
        entity=entity,
        cols=sql.SQL(", ").join(sql.Identifier(n) for n in names),
        table=sql.Identifier(schema, view.table),
        ts=sql.Identifier(EVENT_TIMESTAMP),
        created=sql.Identifier(CREATED_TIMESTAMP),
    )
    cur.execute(query, (limit,))
    # A row with a null feature cannot become a full update event, so it is left out.
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall() if None not in row]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    import pandas as pd

    # to_dict("records") yields Python ints and strs, which json can encode.
    return [r for r in frame.to_dict("records") if not any(pd.isna(v) for v in r.values())]
