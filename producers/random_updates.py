"""Plausible random updates of existing entities: mostly credit reports, some zipcode figures."""

from __future__ import annotations

import math
import random
import uuid
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.contract import CREDIT_HISTORY, VIEWS, ZIPCODE_FEATURES, ViewContract
from core.events import UpdateEvent
from producers.entities import EntityPool

# Credit reports change far more often than yearly zipcode statistics.
VIEW_WEIGHTS = {CREDIT_HISTORY.name: 0.9, ZIPCODE_FEATURES.name: 0.1}
CHANGE_PROBABILITY = 0.3  # share of a row's features an update changes
COUNT_LIKE_MAX = 50  # a column whose non-zero values stay this small is a count (hard pulls...)
AMOUNT_SIGMA = 0.08  # typical relative change of an amount (dues, wages, population)
VANISH_PROBABILITY = 0.01  # a non-zero amount becomes zero (a loan paid off)


@dataclass(frozen=True)
class _ColumnModel:
    """How one numeric feature moves, learnt from its values in the pool."""

    name: str
    integer: bool
    count_like: bool
    values: Sequence[Any]  # every value in the pool, zeros included
    nonzero: Sequence[Any]  # what a zero amount may become (a new loan)
    appear: float  # chance a zero amount becomes non-zero
    vanish: float  # chance a non-zero amount becomes zero


@dataclass(frozen=True)
class _Chain:
    """Columns bound by `at_most` tags (missed payments: 6 months <= 1 year <= 2 years): they
    move together, to the values of a random row of the pool that keeps their order, so the
    walk keeps both the order and their joint distribution."""

    names: tuple[str, ...]
    draws: Sequence[tuple[Any, ...]]

    @classmethod
    def of(cls, view: ViewContract, rows: Sequence[dict[str, Any]]) -> _Chain | None:
        bound = {name for pair in view.orderings for name in pair}
        names = tuple(c.name for c in view.features if c.name in bound)
        in_order = [r for r in rows if view.disorder(r) is None]
        draws = [tuple(r[n] for n in names) for r in in_order]
        return cls(names, draws) if names and draws else None


def _models(
    view: ViewContract, rows: Sequence[dict[str, Any]], chain: _Chain | None
) -> list[_ColumnModel]:
    models = []
    for column in view.features:
        if column.kind == "string" or (chain is not None and column.name in chain.names):
            continue  # names and codes (city, state) do not drift; a chain moves as one
        values = [r[column.name] for r in rows]
        nonzero = sorted(v for v in values if v)
        p90 = nonzero[int(len(nonzero) * 0.9)] if nonzero else 0
        zero_share = 1 - len(nonzero) / len(values)
        # Appearing as often as vanishing keeps the pool's share of zero amounts; a column
        # without zeros (population, wages) never drops to zero.
        vanish = VANISH_PROBABILITY if zero_share else 0.0
        appear = min(1.0, vanish * (1 - zero_share) / zero_share) if zero_share else 0.0
        models.append(
            _ColumnModel(
                column.name,
                column.kind == "int64",
                abs(p90) <= COUNT_LIKE_MAX,
                values,
                nonzero,
                appear,
                vanish,
            )
        )
    return models


class RandomUpdates(Iterator[UpdateEvent]):
    """An endless stream of updates; each entity's values walk on from its previous update."""

    def __init__(
        self,
        pool: EntityPool,
        *,
        seed: int | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._rng = random.Random(seed)
        self._now = now
        self._views = [v for v in VIEWS if pool.of(v)]
        if not self._views:
            raise ValueError("the entity pool is empty: there is no entity to update")
        # Copies: the walk changes them in place.
        self._rows = [[dict(r) for r in pool.of(v)] for v in self._views]
        weights = [VIEW_WEIGHTS.get(v.name, min(VIEW_WEIGHTS.values())) for v in self._views]
        self._cumulative = [sum(weights[: i + 1]) / sum(weights) for i in range(len(weights) - 1)]
        self._chains = [_Chain.of(v, rows) for v, rows in zip(self._views, self._rows, strict=True)]
        self._models = [
            _models(v, rows, chain)
            for v, rows, chain in zip(self._views, self._rows, self._chains, strict=True)
        ]
        for view, rows, chain in zip(self._views, self._rows, self._chains, strict=True):
            if chain is None:
                continue
            for row in rows:  # a stored row out of order (imported data) starts from a draw
                if view.disorder(row) is not None:
                    row.update(zip(chain.names, self._rng.choice(chain.draws), strict=True))
        # Ids stay unique across runs (a random run id, whatever the seed) without paying for
        # a uuid4 per event (~2 us, a fifth of the per-event budget at 100k events/s).
        self._run_id = str(uuid.uuid4())
        self._seq = 0

    def __next__(self) -> UpdateEvent:
        # The hot path of `produce stream`: plain random() draws instead of choices(),
        # randrange() and choice() took it from 7.2 to 2.7 us per event.
        random_ = self._rng.random
        index = bisect(self._cumulative, random_())
        view = self._views[index]
        rows = self._rows[index]
        row = rows[int(random_() * len(rows))]
        for model in self._models[index]:
            if random_() < CHANGE_PROBABILITY:
                row[model.name] = self._move(model, row[model.name])
        chain = self._chains[index]
        if chain is not None and random_() < CHANGE_PROBABILITY:
            row.update(
                zip(chain.names, chain.draws[int(random_() * len(chain.draws))], strict=True)
            )
        self._seq += 1
        return UpdateEvent(
            view=view,
            event_id=f"{self._run_id}-{self._seq}",
            event_timestamp=self._now(),
            row=dict(row),
        )

    def _move(self, model: _ColumnModel, value: Any) -> Any:
        random_ = self._rng.random
        if model.count_like:
            # Counts (hard pulls, missed payments) jump; a draw from the column keeps their
            # distribution, where a +-1 walk would drift away from it.
            return model.values[int(random_() * len(model.values))]
        if not value:
            if model.nonzero and random_() < model.appear:
                return model.nonzero[int(random_() * len(model.nonzero))]
            return value
        if random_() < model.vanish:
            return 0 * value
        # A log-normal step with mean 1: amounts neither inflate nor shrink on average.
        moved = value * math.exp(self._rng.gauss(-(AMOUNT_SIGMA**2) / 2, AMOUNT_SIGMA))
        return round(moved) if model.integer else moved
