"""Counting what reached the stores: offline rows of a run, newest online values of a sample."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg2
from psycopg2 import sql

from bench.events import EntityRef
from core.contract import EVENT_ID, VIEWS_BY_NAME
from core.events import UpdateEvent
from core.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureStore

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def offline_counts(settings: Settings, prefix: str, views: list[str]) -> dict[str, int]:
    """Rows per view table whose event id starts with the run's `prefix`."""
    counts: dict[str, int] = {}
    with (
        contextlib.closing(psycopg2.connect(**settings.postgres_connect_kwargs())) as conn,
        conn.cursor() as cur,
    ):
        for name in views:
            table = sql.Identifier(settings.postgres_schema, VIEWS_BY_NAME[name].table)
            cur.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE starts_with({}, %s)").format(
                    table, sql.Identifier(EVENT_ID)
                ),
                (prefix,),
            )
            counts[name] = int(cur.fetchone()[0])
    return counts


def micros(ts: datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding)."""
    return (ts - _EPOCH) // timedelta(microseconds=1)


def proto_micros(stamp: Any) -> int:
    """A protobuf Timestamp as microseconds since the epoch."""
    return int(stamp.seconds) * 1_000_000 + int(stamp.nanos) // 1_000


@dataclass
class OnlineCheck:
    """Newest values expected online for a sample of entities, and how many matched."""

    checked: int = 0
    matched: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.checked > 0 and self.matched == self.checked


def check_online(store: FeatureStore, newest: Mapping[EntityRef, UpdateEvent]) -> OnlineCheck:
    """Read every sampled entity through Feast: all features and the event time must be those
    of its newest event (the one produced last)."""
    result = OnlineCheck()
    by_view: dict[str, list[UpdateEvent]] = {}
    for (name, _), event in newest.items():
        by_view.setdefault(name, []).append(event)
    for name, events in by_view.items():
        view = VIEWS_BY_NAME[name]
        response = store.get_online_features(
            features=view.feature_refs(),
            entity_rows=[{view.entity.name: e.entity_value} for e in events],
            full_feature_names=True,
        ).proto
        columns = dict(zip(response.metadata.feature_names.val, response.results, strict=True))
        for i, event in enumerate(events):
            result.checked += 1
            wrong = []
            for column in view.features:
                cell = columns[f"{name}__{column.name}"]
                value = cell.values[i]
                kind = value.WhichOneof("val")
                got = getattr(value, kind) if kind else None
                if got != event.row[column.name]:
                    wrong.append(column.name)
                stamp = proto_micros(cell.event_timestamps[i])
                if stamp != micros(event.event_timestamp):
                    wrong.append("event_timestamp")
            if wrong:
                if len(result.mismatches) < 5:
                    masked = view.entity_key.mask(event.entity_value)
                    result.mismatches.append(f"{name} {masked}: {sorted(set(wrong))}")
            else:
                result.matched += 1
    return result
