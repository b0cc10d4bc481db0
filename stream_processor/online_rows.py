"""Rows in Feast's online format: entity-key and value protobufs, built without pandas/arrow."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from core.contract import Kind, ViewContract
from core.events import UpdateEvent
from stream_processor.feast_compat import OnlineRow

# The ValueProto field Feast itself fills for each kind (feast.type_map), so reads decode them.
_VALUE_FIELD: dict[Kind, str] = {
    "int64": "int64_val",
    "float64": "double_val",
    "string": "string_val",
}


def value_proto(kind: Kind, value: Any) -> ValueProto:
    """A Feast Value protobuf of a contract kind."""
    return ValueProto(**{_VALUE_FIELD[kind]: value})


def entity_key_proto(view: ViewContract, value: Any) -> EntityKeyProto:
    """The Feast entity key of one entity of `view` (single join key)."""
    return EntityKeyProto(
        join_keys=[view.entity.name], entity_values=[value_proto(view.entity.kind, value)]
    )


def online_rows(view: ViewContract, events: Sequence[UpdateEvent]) -> list[OnlineRow]:
    """One online row per event, stamped with the event's own timestamp."""
    features = view.features
    return [
        (
            entity_key_proto(view, event.entity_value),
            {c.name: value_proto(c.kind, event.row[c.name]) for c in features},
            event.event_timestamp,
            None,
        )
        for event in events
    ]
