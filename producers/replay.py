"""The history as update events, in event-time order, with the ids `init` gave its rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pandas as pd

from core.contract import CREDIT_HISTORY, EVENT_TIMESTAMP, ZIPCODE_FEATURES, ViewContract
from core.events import UpdateEvent
from core.history import History
from core.offline_store import history_event_ids
from producers.errors import ProducerError


def view_frames(history: History) -> list[tuple[ViewContract, pd.DataFrame]]:
    """Each feature view with its history table."""
    return [(CREDIT_HISTORY, history.credit_history), (ZIPCODE_FEATURES, history.zipcodes)]


def history_events(history: History, *, limit: int | None = None) -> Iterator[UpdateEvent]:
    """One event per history row, oldest first; `limit` keeps the oldest `limit` events.

    Each event carries the row's own event_timestamp and the offline store's deterministic id
    (`history_event_ids`), so replaying twice, or replaying what `init` loaded, writes nothing
    new downstream.
    """
    frames = view_frames(history)
    plan = _plan(frames, limit)
    columns = [
        _event_columns(view, frame, plan.loc[plan["view"] == index, "row"].to_numpy())
        for index, (view, frame) in enumerate(frames)
    ]
    positions = [0] * len(frames)
    for view_index in plan["view"].tolist():
        view, _ = frames[view_index]
        ids, stamps, rows = columns[view_index]
        i = positions[view_index]
        positions[view_index] = i + 1
        yield UpdateEvent(view=view, event_id=ids[i], event_timestamp=stamps[i], row=rows[i])


def _plan(frames: list[tuple[ViewContract, pd.DataFrame]], limit: int | None) -> pd.DataFrame:
    """(view, row) of every event in send order: event time, ties by view then row order."""
    parts = [
        pd.DataFrame(
            {
                "ts": frame[EVENT_TIMESTAMP].to_numpy(),
                "view": np.full(len(frame), index, dtype=np.int64),
                "row": np.arange(len(frame), dtype=np.int64),
            }
        )
        for index, (_, frame) in enumerate(frames)
    ]
    plan = pd.concat(parts, ignore_index=True).sort_values(["ts", "view", "row"], kind="stable")
    return plan if limit is None else plan.head(limit)


def _event_columns(
    view: ViewContract, frame: pd.DataFrame, order: np.ndarray
) -> tuple[list[str], list[datetime], list[dict[str, object]]]:
    """Ids, timestamps and rows of the view's planned events (`order`: row positions)."""
    subset = frame.iloc[order]
    ids = history_event_ids(view, subset)
    stamps = list(subset[EVENT_TIMESTAMP].array.to_pydatetime())
    # tolist() gives Python ints and strs, which json can encode (numpy scalars it cannot).
    values = {c.name: subset[c.name].tolist() for c in view.row_columns}
    rows = [dict(zip(values, row, strict=True)) for row in zip(*values.values(), strict=True)]
    key = view.entity_key
    for value in set(values[key.name]):  # an entity has many rows: check each key once
        try:
            key.parse(value)
        except ValueError as exc:  # the message masks a sensitive key
            raise ProducerError(f"history row of {view.name} cannot be an event: {exc}") from None
    return ids, stamps, rows
