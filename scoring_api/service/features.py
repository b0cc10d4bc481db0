"""Online feature reads, per view with event time and status: straight from Redis in Feast's
layout (scoring_api/service/redis_reader.py, the default) or through Feast's async read."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from redis.exceptions import RedisError

from core.contract import VIEWS_BY_NAME
from core.model.columns import split_ref
from scoring_api.core.errors import OnlineStoreUnavailable
from scoring_api.core.outage import OutageLog
from scoring_api.schemas import FeatureStatus

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger(__name__)

_PRESENT = 1  # feast.serving.ServingService FieldStatus.PRESENT


class OnlineStoreHealth:
    """Whether the online store answers: one log line when calls start failing, one when one
    succeeds again (with how long and how many failed), and `on_change` (the store_up gauge).

    Reads and readiness pings report here. A call that fails after another one, started
    later, has succeeded belongs to the outage that just ended (it waited out its timeout
    while the store came back): it neither counts nor starts a new outage.
    """

    def __init__(self, address: str, on_change: Callable[[bool], None] = lambda up: None) -> None:
        self.address = address
        self._outage = OutageLog(
            log,
            "online store reachable again at %s after %.1f s (%d failed calls)",
            address,
            on_change,
        )
        self._successes = 0

    def begin(self) -> int:
        """A token for a call about to start (pass it to `failed`)."""
        return self._successes

    def succeeded(self) -> None:
        self._successes += 1
        self._outage.succeeded()

    def failed(self, reason: str, begun: int) -> None:
        """A call begun at token `begun` failed; `reason` never holds request data."""
        if begun != self._successes:
            return  # another call has succeeded since this one started
        self._outage.failed(
            "online store unreachable at %s: %s; decisions get 503 "
            "online_store_unavailable until it answers",
            self.address,
            reason,
        )


@dataclass(frozen=True, slots=True)
class ViewReading:
    """One view's values for one entity; values are None unless status is PRESENT."""

    status: FeatureStatus
    event_timestamp: datetime | None
    values: dict[str, Any]
    # Used although older than the view's TTL (what training would have used): its
    # serving_max_age allows it. Always False for MISSING and STALE.
    older_than_ttl: bool = False


# Per view: its values by feature name (None where unset), and its row's event time (None
# when the entity has no row in the view). What a source fetches; the reader judges it.
Fetched = tuple[dict[str, dict[str, Any]], dict[str, datetime | None]]


class FeatureSource(Protocol):
    """Fetches the model's features of one applicant from the online store."""

    # The features of each view it fetches, as `views_of` gives them.
    views: dict[str, list[str]]

    async def fetch(self, entity_row: dict[str, Any]) -> Fetched: ...


def row_time(seconds: int, nanos: int) -> datetime | None:
    """The event time of a view's row from its stored protobuf Timestamp; None for a zero one,
    Feast's "no row" (its Redis read answers an absent entity with an empty value and a zero
    timestamp, and reads an absent `_ts:` field as zero)."""
    if not (seconds or nanos):
        return None
    return datetime.fromtimestamp(seconds + nanos / 1e9, UTC)


class FeastFeatureSource:
    """Through Feast's `get_online_features_async` (CREDIT_ONLINE_READER=feast, the reference)."""

    def __init__(self, store: FeatureStore, feature_refs: list[str]) -> None:
        self._store = store
        self.refs = list(feature_refs)
        self.views = views_of(self.refs)
        # Feast answers "view__feature" with full_feature_names=True (bare names could clash).
        self._by_full_name = {
            f"{view}__{feature}": (view, feature) for view, feature in map(split_ref, self.refs)
        }

    async def fetch(self, entity_row: dict[str, Any]) -> Fetched:
        response = await self._store.get_online_features_async(
            features=self.refs, entity_rows=[entity_row], full_feature_names=True
        )
        proto = response.proto
        values: dict[str, dict[str, Any]] = {view: {} for view in self.views}
        stamps: dict[str, datetime | None] = dict.fromkeys(self.views)
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
            if result.event_timestamps:
                ts = result.event_timestamps[0]
                if (stamp := row_time(ts.seconds, ts.nanos)) is not None:
                    stamps[view] = stamp
        return values, stamps


def views_of(feature_refs: list[str]) -> dict[str, list[str]]:
    """The features of each view among `feature_refs`, in their order."""
    views: dict[str, list[str]] = {}
    for view, feature in map(split_ref, feature_refs):
        views.setdefault(view, []).append(feature)
    return views


class OnlineFeatureReader:
    """Reads the model's features for one applicant from a source (one round trip), within a
    time limit, and judges each view's row: present, missing, stale or old."""

    def __init__(
        self, source: FeatureSource, timeout_s: float, health: OnlineStoreHealth | None = None
    ) -> None:
        self.source = source
        self.health = health or OnlineStoreHealth("the online store")
        self._timeout_s = timeout_s
        self._views = source.views
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
        health = self.health
        begun = health.begin()
        try:
            async with asyncio.timeout(self._timeout_s):
                values, stamps = await self.source.fetch(entity_row)
        except TimeoutError:
            waited = f"no answer within {self._timeout_s * 1000:.0f} ms"
            health.failed(waited, begun)
            raise OnlineStoreUnavailable(
                f"the online store did not answer within {self._timeout_s * 1000:.0f} ms"
            ) from None
        except (RedisError, OSError) as exc:
            # The class only: redis error texts carry addresses, not request data, but a
            # client needs neither. Logged once per outage (OnlineStoreHealth).
            health.failed(type(exc).__name__, begun)
            raise OnlineStoreUnavailable(
                f"the online store is unreachable ({type(exc).__name__})"
            ) from exc
        health.succeeded()
        return self._judge(values, stamps, now)

    def _judge(
        self, values: dict[str, dict[str, Any]], stamps: dict[str, datetime | None], now: datetime
    ) -> dict[str, ViewReading]:
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
