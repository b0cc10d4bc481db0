"""Shared pieces of the synthetic history: the time window, as-of lookups, frame assembly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from core.history_schema import TIMESTAMPS, TableSpec

# Internal times are int64 milliseconds since the epoch: exact to compare, cheap to search.
MS_PER_DAY = 86_400_000
MS_PER_YEAR = int(365.25 * MS_PER_DAY)
MS_PER_MONTH = MS_PER_YEAR // 12

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Objects = NDArray[np.object_]


@dataclass(frozen=True)
class Window:
    """The span of the history, [start_ms, end_ms)."""

    start_ms: int
    end_ms: int

    @property
    def span_ms(self) -> int:
        return self.end_ms - self.start_ms

    def years_before_end(self, t_ms: Ints) -> Floats:
        """How long before the end of the window each time is, in years."""
        return (self.end_ms - t_ms) / MS_PER_YEAR


def uniform_ms(rng: np.random.Generator, low: Ints | int, high: Ints | int, size: int) -> Ints:
    """Uniform times in [low, high) (arrays broadcast), whole milliseconds."""
    low_f = np.asarray(low, dtype=np.float64)
    high_f = np.asarray(high, dtype=np.float64)
    return np.floor(low_f + rng.random(size) * (high_f - low_f)).astype(np.int64)


class TimeKeys:
    """Rows of (entity, time) sorted so that per-entity time ranges are one binary search."""

    def __init__(self, entity: Ints, time_ms: Ints, origin_ms: int, horizon_ms: int) -> None:
        # entity * horizon + offset is one int64 whose order is (entity, time): it must not
        # overflow, and every time searched must lie within [origin, origin + horizon).
        if int(entity.max(initial=0)) + 1 >= np.iinfo(np.int64).max // horizon_ms:
            raise ValueError("too many entities for the time horizon")
        self._origin = origin_ms
        self._horizon = horizon_ms
        keys = self._key(entity, time_ms)
        self.order = np.argsort(keys, kind="stable")
        self._keys = keys[self.order]
        self._entity = entity[self.order]

    def _key(self, entity: Ints, time_ms: Ints) -> Ints:
        # -1 stands for "before the origin": it sorts after the previous entity's rows and
        # before this entity's, so a window reaching back past the origin counts correctly.
        offset = np.clip(time_ms - self._origin, -1, self._horizon - 1)
        return entity.astype(np.int64) * self._horizon + offset

    def latest_at(self, entity: Ints, time_ms: Ints) -> Ints:
        """Row index of each query's latest row at or before its time; -1 when there is none."""
        pos = np.searchsorted(self._keys, self._key(entity, time_ms), side="right") - 1
        found = (pos >= 0) & (self._entity[np.maximum(pos, 0)] == entity)
        return np.where(found, self.order[np.maximum(pos, 0)], -1)

    def count_within(self, entity: Ints, time_ms: Ints, width_ms: int) -> Ints:
        """How many rows of each query's entity fall in (time - width, time]."""
        high = np.searchsorted(self._keys, self._key(entity, time_ms), side="right")
        low = np.searchsorted(self._keys, self._key(entity, time_ms - width_ms), side="right")
        return (high - low).astype(np.int64)


def sigmoid(x: Floats) -> Floats:
    """The logistic function: log-odds to probability."""
    result: Floats = 1 / (1 + np.exp(-x))
    return result


def to_timestamps(time_ms: Ints) -> pd.DatetimeIndex:
    """datetime64[ns, UTC] from epoch milliseconds."""
    return pd.to_datetime(time_ms, unit="ms", utc=True).as_unit("ns")


def frame_for(
    spec: TableSpec, values: Mapping[str, object], event_ms: Ints, created_ms: Ints
) -> pd.DataFrame:
    """Assemble a table in the contract's column order, sorted by event time."""
    expected = {c.name for c in spec.columns}
    if set(values) != expected:
        # The generator writes one rule per feature; a feature added to the Feast definitions
        # needs a rule here too, so say which.
        raise NotImplementedError(
            f"{spec.name}: no generation rule for {sorted(expected - set(values))}; "
            f"rules for unknown columns {sorted(set(values) - expected)}"
        )
    columns: dict[str, object] = {}
    for column in spec.columns:
        data = np.asarray(values[column.name])
        columns[column.name] = data.astype(object if column.kind == "string" else column.kind)
    event, created = TIMESTAMPS
    columns[event] = to_timestamps(event_ms)
    columns[created] = to_timestamps(created_ms)
    frame = pd.DataFrame(columns)
    order = [event, *(k for k in spec.key if k != event)]
    return frame.sort_values(order, kind="stable", ignore_index=True)
