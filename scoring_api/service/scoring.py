"""A loan decision: online features for the applicant, the model's row, the threshold.

Missing features. Every feature view the model reads is looked up for the application's
entity key. A view with no row for the key, or only a row older than the view's TTL (the
point-in-time join of training would not have used it either), counts as missing. The
model then gets the same nulls the training frame had for such loans, but only if training
saw that case: when at least `MIN_TRAINED_MISSING_RATE` of the training loans lacked the view
(e.g. applicants with no credit report yet), the loan is scored and the response flags the
view; otherwise (e.g. an unknown zipcode, never missing in training) the API refuses with
422 `features_unavailable`, because the model's answer would be a guess it never learned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.contract import ENTITY_KEYS, VIEWS_BY_NAME
from scoring_api.core.errors import FeaturesUnavailable
from scoring_api.schemas import FeatureStatus
from scoring_api.service.features import OnlineFeatureReader, ViewReading
from scoring_api.service.model import Explanation, ServedModel

MIN_TRAINED_MISSING_RATE = 0.01


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one application, with what it was based on."""

    approved: bool
    p_default: float
    threshold: float
    model_version: str
    decided_at: datetime
    readings: dict[str, ViewReading]
    warnings: list[str]
    explanation: Explanation


class LoanScorer:
    """Scores applications with one model and one online feature reader."""

    def __init__(
        self,
        model: ServedModel,
        reader: OnlineFeatureReader,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.model = model
        self.reader = reader
        self.clock = clock
        self._entity_names = list(ENTITY_KEYS)

    async def score(self, application: dict[str, Any]) -> Decision:
        now = self.clock()
        readings = await self.reader.read({k: application[k] for k in self._entity_names}, now)
        warnings = self._missing_views(readings, application) + _old_views(readings, now)
        row = self.model.row(application, {view: r.values for view, r in readings.items()})
        # ~40 µs of pure Python: cheaper inline than a hop to a worker thread (see README).
        explanation = self.model.explain(row)
        p = explanation.p_default
        return Decision(
            approved=p < self.model.threshold,
            p_default=p,
            threshold=self.model.threshold,
            model_version=self.model.version,
            decided_at=now,
            readings=readings,
            warnings=warnings,
            explanation=explanation,
        )

    def _missing_views(
        self, readings: dict[str, ViewReading], application: dict[str, Any]
    ) -> list[str]:
        """Warnings for missing views the model learned; FeaturesUnavailable for the others."""
        warnings, refused = [], []
        for view, reading in readings.items():
            if reading.status is FeatureStatus.PRESENT:
                continue
            key = VIEWS_BY_NAME[view].entity_key
            what = "no row" if reading.status is FeatureStatus.MISSING else "only a stale row"
            rate = self.model.trained_missing_rate(view)
            if rate >= MIN_TRAINED_MISSING_RATE:
                warnings.append(
                    f"{view}: {what} for this {key.name}; scored with its features missing, "
                    f"as {rate:.1%} of the training loans were"
                )
            else:
                refused.append(
                    {
                        "view": view,
                        "entity": key.name,
                        "key": key.mask(application[key.name]),
                        "status": reading.status.value,
                        "trained_missing_rate": rate,
                    }
                )
        if refused:
            names = ", ".join(f"{r['view']} ({r['entity']})" for r in refused)
            raise FeaturesUnavailable(
                f"the online store has no usable features in {names}; the model never learned "
                "to decide without them. Check the key, or load its features (init or a stream "
                "update) and retry.",
                details=refused,
            )
        return warnings


def _old_views(readings: dict[str, ViewReading], now: datetime) -> list[str]:
    """A warning per view used although older than its TTL (its serving_max_age allows it)."""
    warnings = []
    for view, reading in readings.items():
        if reading.older_than_ttl and reading.event_timestamp is not None:
            ttl = VIEWS_BY_NAME[view].ttl or timedelta()
            age_days = (now - reading.event_timestamp).days
            warnings.append(
                f"{view}: values are {age_days} days old, beyond the {ttl.days}-day window "
                "the model was trained with; used because this view may be served at any age"
            )
    return warnings
