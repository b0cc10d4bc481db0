"""Micro-batches: routed records grouped per view, newest event per entity for the online store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.contract import CREATED_TIMESTAMP, EVENT_ID, EVENT_TIMESTAMP, ViewContract
from core.events import UpdateEvent
from core.offline_store import view_columns
from stream_processor.records import DeadLetter, Routed, SourceRecord


@dataclass
class Batch:
    """One micro-batch: every valid event (in consumption order) and every dead letter."""

    events: list[UpdateEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    @classmethod
    def from_routed(cls, routed: Iterable[tuple[SourceRecord, Routed]]) -> Batch:
        batch = cls()
        for _, outcome in routed:
            if isinstance(outcome, DeadLetter):
                batch.dead_letters.append(outcome)
            else:
                batch.events.append(outcome)
        return batch

    def __len__(self) -> int:
        return len(self.events) + len(self.dead_letters)

    def by_view(self) -> dict[str, list[UpdateEvent]]:
        """Valid events grouped by feature view name, each group in consumption order."""
        groups: dict[str, list[UpdateEvent]] = {}
        for event in self.events:
            groups.setdefault(event.view.name, []).append(event)
        return groups

    def views(self) -> dict[str, ViewContract]:
        return {e.view.name: e.view for e in self.events}


def newest_per_entity(events: Sequence[UpdateEvent]) -> list[UpdateEvent]:
    """The newest event of each entity; on equal timestamps the first one consumed wins.

    First-wins on ties matches Feast's Redis writer, which skips a row whose timestamp is not
    strictly newer than the stored one: the result is the same whether two events share a batch
    or not.
    """
    newest: dict[Any, UpdateEvent] = {}
    for event in events:
        current = newest.get(event.entity_value)
        if current is None or event.event_timestamp > current.event_timestamp:
            newest[event.entity_value] = event
    return list(newest.values())


def offline_rows(
    view: ViewContract, events: Sequence[UpdateEvent], created: datetime
) -> list[tuple[Any, ...]]:
    """Rows in `view_columns(view)` order: every event, late ones included."""
    columns = view_columns(view)
    rows = []
    for event in events:
        values = {
            EVENT_ID: event.event_id,
            **event.row,
            EVENT_TIMESTAMP: event.event_timestamp,
            CREATED_TIMESTAMP: created,
        }
        rows.append(tuple(values[c] for c in columns))
    return rows
