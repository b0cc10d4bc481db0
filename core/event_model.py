"""The event model: one msgspec Struct per feature view, generated from the contract.

It decodes and checks an event in one pass (core.events.parse_event) and gives the JSON Schema
that docs/events.md publishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal

import msgspec

from core.contract import EVENT_ID, EVENT_TIMESTAMP, Column, ViewContract
from core.validation import model_json_schema, value_type

SCHEMA_VERSION = 1
SCHEMA_VERSION_FIELD = "schema_version"
ENVELOPE_FIELDS = (SCHEMA_VERSION_FIELD, EVENT_ID, EVENT_TIMESTAMP)
MAX_EVENT_ID_LENGTH = 128


def _title(view: ViewContract) -> str:
    return "".join(part.title() for part in view.name.split("_")) + "Event"


_VERSION: Any = Literal.__getitem__(SCHEMA_VERSION)


def _feature_type(column: Column) -> Any:
    if column.at_most is None:
        return value_type(column)
    # JSON Schema cannot compare two fields: the description says it, parse_event checks it.
    return value_type(column, description=f"At most the event's {column.at_most}")


def _struct(view: ViewContract) -> type[msgspec.Struct]:
    key = view.entity_key
    fields: list[tuple[str, Any]] = [
        (
            SCHEMA_VERSION_FIELD,
            Annotated[_VERSION, msgspec.Meta(description="Version of this layout")],
        ),
        (
            EVENT_ID,
            Annotated[
                str,
                msgspec.Meta(
                    min_length=1,
                    max_length=MAX_EVENT_ID_LENGTH,
                    description="Unique id of the event (a UUID is fine)",
                ),
            ],
        ),
        (
            # Parsed by datetime.fromisoformat after decoding: any ISO-8601 form with an offset.
            EVENT_TIMESTAMP,
            Annotated[
                str,
                msgspec.Meta(
                    description="When the values became true: ISO-8601 with a UTC offset",
                    extra_json_schema={"format": "date-time"},
                ),
            ],
        ),
        (key.name, key.value_type),
        *((c.name, _feature_type(c)) for c in view.features),
    ]
    doc = (
        f"An update of feature view {view.name!r}: the full feature row of one {key.name}. "
        "Every field is required, no other is allowed, no value is null."
    )
    return msgspec.defstruct(
        _title(view),
        fields,
        forbid_unknown_fields=True,
        gc=False,  # flat and short-lived: no reference cycles to track
        module=__name__,
        namespace={"__doc__": doc},
    )


@dataclass(frozen=True)
class EventModel:
    """A view's event Struct, its JSON decoder and what the hot path reads from a decoded one."""

    view: ViewContract
    struct: type[msgspec.Struct]

    @classmethod
    def of(cls, view: ViewContract) -> EventModel:
        return cls(view, _struct(view))

    @cached_property
    def decoder(self) -> msgspec.json.Decoder[Any]:
        return msgspec.json.Decoder(self.struct)

    @staticmethod
    def split(decoded: msgspec.Struct) -> tuple[str, str, dict[str, Any]]:
        """(event id, timestamp text, row) of a decoded event; the row in contract order."""
        row = msgspec.structs.asdict(decoded)  # the envelope first, then the row
        del row[SCHEMA_VERSION_FIELD]
        return row.pop(EVENT_ID), row.pop(EVENT_TIMESTAMP), row

    @cached_property
    def field_types(self) -> dict[str, Any]:
        return {f.encode_name: f.type for f in msgspec.structs.fields(self.struct)}

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of the view's events (docs/events.md publishes it)."""
        return model_json_schema(self.struct)


_MODELS: dict[str, EventModel] = {}


def event_model(view: ViewContract) -> EventModel:
    """The (cached) event model of a view."""
    model = _MODELS.get(view.name)
    if model is None or model.view is not view:
        model = _MODELS[view.name] = EventModel.of(view)
    return model


def event_json_schema(view: ViewContract) -> dict[str, Any]:
    return event_model(view).json_schema()
