"""Online feature reads through Feast's async path, per view with event time and status."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from core.contract import VIEWS_BY_NAME
from core.model.columns import split_ref
from scoring_api.core.errors import OnlineStoreUnavailable
from scoring_api.schemas import FeatureStatus

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger(__name__)

_PRESENT = 1  # feast.serving.ServingService FieldStatus.PRESENT


@dataclass(frozen=True, slots=True)
class ViewReading:
    """One view's values for one entity; values are None unless status is PRESENT."""

    status: FeatureStatus
    event_timestamp: datetime | None
    values: dict[str, Any]
    # Used although older than the view's TTL (what training would have used): its
    # serving_max_age allows it. Always False for MISSING and STALE.
    older_than_ttl: bool = False


class OnlineFeatureReader:
    """Reads the model's feature references for one applicant in one Feast call."""

    def __init__(self, store: FeatureStore, feature_refs: list[str], timeout_s: float) -> None:
        self._store = store
        self._refs = list(feature_refs)
        self._timeout_s = timeout_s
        # Feast answers "view__feature" with full_feature_names=True (bare names could clash).
        self._by_full_name = {
            f"{view}__{feature}": (view, feature) for view, feature in map(split_ref, self._refs)
        }
        self._views: dict[str, list[str]] = {}
        for view, feature in map(split_ref, self._refs):
            self._views.setdefault(view, []).append(feature)
        # A view without TTL (None or 0) never goes stale, as in Feast's point-in-time join;
        # a row older than its serving_max_age is STALE, one only older than its TTL flagged.
        self._ttl: dict[str, timedelta | None] = {
            view: VIEWS_BY_NAME[view].ttl for view in self._views
        }
        self._max_age = {view: VIEWS_BY_NAME[view].serving_max_age for view in self._views}

    @property
    def views(self) -> dict[str, list[str]]:
        return self._views

    async def read(self, entity_row: dict[str, Any], now: datetime) -> dict[str, ViewReading]:
        """Per view: values, event time and status (a row older than the view's serving max age
        is STALE; one older than its TTL but allowed is PRESENT and flagged)."""
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._store.get_online_features_async(
                    features=self._refs, entity_rows=[entity_row], full_feature_names=True
                )
        except TimeoutError:
            raise OnlineStoreUnavailable(
                f"the online store did not answer within {self._timeout_s * 1000:.0f} ms"
            ) from None
        except (RedisError, OSError) as exc:
            # The class only: redis error texts carry addresses, not request data, but a
            # client needs neither.
            log.warning("online store read failed: %s", type(exc).__name__)
            raise OnlineStoreUnavailable(
                f"the online store is unreachable ({type(exc).__name__})"
            ) from exc
        return self._parse(response.proto, now)

    def _parse(self, proto: Any, now: datetime) -> dict[str, ViewReading]:
        values: dict[str, dict[str, Any]] = {view: {} for view in self._views}
        stamps: dict[str, datetime | None] = dict.fromkeys(self._views)
        for name, result in zip(proto.metadata.feature_names.val, proto.results, strict=True):
            target = self._by_full_name.get(name)
            if target is None:  # the entity key columns
                continue
            view, feature = target
            value = result.values[0]
            kind = value.WhichOneof("val")
            if result.statuses[0] != _PRESENT or kind in (None, "null_val"):
                values[view][feature] = None
            else:
                values[view][feature] = getattr(value, kind)
            # Feast 0.67's Redis path marks an absent entity PRESENT with an empty value and a
            # zero timestamp: the zero timestamp is the reliable "no row" signal.
            ts = result.event_timestamps[0] if result.event_timestamps else None
            if ts is not None and (ts.seconds or ts.nanos):
                stamps[view] = datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, UTC)
        readings = {}
        for view, features in self._views.items():
            stamp = stamps[view]
            old = False
            if stamp is None:
                status = FeatureStatus.MISSING
            elif (max_age := self._max_age[view]) and now - stamp > max_age:
                status = FeatureStatus.STALE
            else:
                status = FeatureStatus.PRESENT
                old = (ttl := self._ttl[view]) is not None and now - stamp > ttl
            row = values[view] if status is FeatureStatus.PRESENT else dict.fromkeys(features)
            readings[view] = ViewReading(status, stamp, {f: row.get(f) for f in features}, old)
        return readings
