"""Watched entities: their values read once through Feast, then moved on by live updates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from core.contract import ENTITY_KEYS, VIEWS, ViewContract
from core.live.messages import OnlineUpdate

if TYPE_CHECKING:
    from feast import FeatureStore

_PRESENT = 1  # feast.serving.ServingService FieldStatus.PRESENT


def views_of(entity: str) -> list[ViewContract]:
    """The feature views keyed by `entity` (a join key name)."""
    views = [v for v in VIEWS if v.entity.name == entity]
    if not views:
        raise ValueError(f"no feature view is keyed by {entity!r}")
    return views


@dataclass
class ViewState:
    """One view's values of one entity and the event time they are from (None: no row)."""

    values: dict[str, Any]
    event_timestamp: datetime | None = None
    written_at: datetime | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One feature whose value an update changed."""

    view: str
    feature: str
    old: Any
    new: Any
    update: OnlineUpdate


@dataclass
class WatchedEntity:
    """An entity a user follows: every view keyed by it, as last seen."""

    entity: str
    key: Any
    views: dict[str, ViewState] = field(default_factory=dict)

    @property
    def masked_key(self) -> str:
        return ENTITY_KEYS[self.entity].mask(self.key)

    def apply(self, update: OnlineUpdate) -> list[Change] | None:
        """The changed features, or None if the update is not newer than what is known.

        Feast's Redis writer skips a row whose event time is not newer than the stored one,
        so such an announcement changed nothing online.
        """
        state = self.views.setdefault(update.view, ViewState(dict.fromkeys(update.values)))
        if state.event_timestamp is not None and update.event_timestamp <= state.event_timestamp:
            return None
        changes = [
            Change(update.view, name, state.values.get(name), value, update)
            for name, value in update.values.items()
            if state.values.get(name) != value
        ]
        state.values = dict(update.values)
        state.event_timestamp = update.event_timestamp
        state.written_at = update.written_at
        state.event_id = update.event_id
        return changes


def parse_key(entity: str, text: str) -> Any:
    """A typed, validated entity key from text (ValueError never shows a sensitive value)."""
    key = ENTITY_KEYS.get(entity)
    if key is None:
        raise ValueError(f"unknown entity {entity!r}; one of {', '.join(ENTITY_KEYS)}")
    raw: Any = text
    if key.kind == "int64":
        try:
            raw = int(text)
        except ValueError:
            raise ValueError(f"{entity} must be an integer") from None
    return key.parse(raw)


def read_entity(store: FeatureStore, entity: str, key: Any) -> WatchedEntity:
    """The entity's current online values of every view keyed by it, in one Feast read."""
    views = views_of(entity)
    refs = [ref for view in views for ref in view.feature_refs()]
    response = store.get_online_features(
        features=refs, entity_rows=[{entity: key}], full_feature_names=True
    )
    return entity_from_proto(entity, key, views, response.proto)


def entity_from_proto(
    entity: str, key: Any, views: list[ViewContract], proto: Any
) -> WatchedEntity:
    """A WatchedEntity from a GetOnlineFeaturesResponse protobuf of one entity row."""
    by_full_name = {f"{v.name}__{c.name}": (v.name, c.name) for v in views for c in v.features}
    watched = WatchedEntity(
        entity, key, {v.name: ViewState(dict.fromkeys(v.feature_names)) for v in views}
    )
    for name, result in zip(proto.metadata.feature_names.val, proto.results, strict=True):
        target = by_full_name.get(name)
        if target is None:  # the entity key column
            continue
        view, feature = target
        value = result.values[0]
        kind = value.WhichOneof("val")
        if result.statuses[0] == _PRESENT and kind not in (None, "null_val"):
            watched.views[view].values[feature] = getattr(value, kind)
        # An absent entity comes back with a zero timestamp: that, not the status, says "no row".
        ts = result.event_timestamps[0] if result.event_timestamps else None
        if ts is not None and (ts.seconds or ts.nanos):
            # Exact to the microsecond (a float sum could round): compared with announcements.
            watched.views[view].event_timestamp = datetime.fromtimestamp(
                ts.seconds, UTC
            ) + timedelta(microseconds=ts.nanos // 1000)
    return watched
