"""Update events on Kafka: one topic per feature view, JSON values, schema from the contract.

A value is a flat JSON object: `schema_version`, `event_id`, `event_timestamp` (ISO-8601 with
a UTC offset), the view's entity key and every feature of the view. The message key is the
entity key as text, so one entity's events stay ordered in one partition.

Each view's events are validated by a msgspec Struct generated from the contract
(core.event_model), which also gives their JSON Schema (published in docs/events.md). msgspec
was measured against pydantic v2 and the former hand-written checks on the processor's hot
path and is the fastest (see docs/events.md, "Validation").
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from core.contract import EVENT_ID, EVENT_TIMESTAMP, VIEWS, ViewContract
from core.errors import CreditPipelineError
from core.event_model import (
    MAX_EVENT_ID_LENGTH,
    SCHEMA_VERSION,
    SCHEMA_VERSION_FIELD,
    EventModel,
    event_model,
)
from core.validation import field_problem, showable_name

# How far ahead of the processor's clock an event may be stamped (clock skew between hosts).
DEFAULT_MAX_FUTURE = timedelta(minutes=5)


class InvalidEvent(CreditPipelineError):
    """An event that breaks the contract; the message is its dead-letter reason (masked)."""


def topic_name(view: ViewContract, prefix: str = "") -> str:
    """Kebab-case topic of a view, e.g. `credit-history`."""
    return prefix + view.name.replace("_", "-")


@dataclass(frozen=True, slots=True)
class UpdateEvent:
    """A validated update: the full feature row of one entity at one time."""

    view: ViewContract
    event_id: str
    event_timestamp: datetime
    row: dict[str, Any]  # entity key and every feature, in contract order

    @property
    def entity_value(self) -> Any:
        return self.row[self.view.entity.name]

    @property
    def key(self) -> bytes:
        return str(self.entity_value).encode()

    def to_json(self) -> dict[str, Any]:
        return {
            SCHEMA_VERSION_FIELD: SCHEMA_VERSION,
            EVENT_ID: self.event_id,
            EVENT_TIMESTAMP: format_timestamp(self.event_timestamp),
            **self.row,
        }

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()


def format_timestamp(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_event(
    view: ViewContract, row: dict[str, Any], event_timestamp: datetime | None = None
) -> UpdateEvent:
    """An event with a fresh id; `row` must hold the entity key and every feature."""
    event = UpdateEvent(
        view=view,
        event_id=str(uuid.uuid4()),
        event_timestamp=event_timestamp or datetime.now(UTC),
        row={c.name: row[c.name] for c in view.row_columns},
    )
    return parse_event(view, event.encode(), now=event.event_timestamp)


def _field_names(names: set[str]) -> str:
    """Unknown field names for a reason: plain names quoted, the rest only counted."""
    shown = sorted(n for n in names if showable_name(n))
    hidden = len(names) - len(shown)
    parts = [repr(n) for n in shown]
    if hidden:
        parts.append(f"{hidden} more not shown (they look like data)")
    return ", ".join(parts)


def _describe(value: Any) -> str:
    """A value's kind for a reason, never the value itself (it may be personal data)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 1000:
        return str(value)  # a small version number; long digit strings may be data
    return "null" if value is None else f"a {type(value).__name__}"


def _parse_timestamp(value: str, now: datetime, max_future: timedelta) -> datetime:
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        # The value itself is never echoed: it may be anything, a dob_ssn included.
        raise InvalidEvent(f"field {EVENT_TIMESTAMP!r} is not an ISO-8601 timestamp") from None
    if ts.tzinfo is None:
        raise InvalidEvent(f"field {EVENT_TIMESTAMP!r} has no UTC offset (use ...Z)")
    ts = ts.astimezone(UTC)
    if ts - now > max_future:
        raise InvalidEvent(
            f"field {EVENT_TIMESTAMP!r} is {(ts - now).total_seconds():.0f} s in the future "
            f"(limit {max_future.total_seconds():.0f} s)"
        )
    if ts.year < 1970:
        raise InvalidEvent(f"field {EVENT_TIMESTAMP!r} is before 1970")
    return ts


def parse_event(
    view: ViewContract,
    raw: bytes | None,
    *,
    now: datetime | None = None,
    max_future: timedelta = DEFAULT_MAX_FUTURE,
) -> UpdateEvent:
    """Validate a Kafka value against the view's contract, or raise InvalidEvent.

    The view's Struct checks the shape, types and bounds while decoding; then the timestamp
    (an offset, not too far ahead, not before 1970), what the key's type cannot say (a valid
    birth date) and the order between features (`at_most` tags). A value the Struct refuses is
    examined again (`_reason`) for a reason that names the problem without quoting the value.
    """
    if raw is None:
        raise InvalidEvent("empty message (tombstone); an update event is required")
    model = event_model(view)
    now = now or datetime.now(UTC)
    try:
        decoded = model.decoder.decode(raw)
    except msgspec.ValidationError:
        raise InvalidEvent(_reason(model, raw, now, max_future)) from None
    except msgspec.DecodeError as exc:
        raise InvalidEvent(_not_json(exc)) from None
    event_id, stamp, row = model.split(decoded)
    ts = _parse_timestamp(stamp, now, max_future)
    try:
        view.entity_key.check(row[view.entity.name])
    except ValueError as exc:
        raise InvalidEvent(str(exc)) from None
    if pair := view.disorder(row):
        raise InvalidEvent(f"field {pair[0]!r} must not exceed field {pair[1]!r}")
    return UpdateEvent(view, event_id, ts, row)


def _not_json(exc: msgspec.DecodeError) -> str:
    # msgspec names the fault and its byte offset, never the bytes themselves.
    detail = str(exc).removeprefix("JSON is malformed: ")
    return f"value is not JSON: {detail[:1].lower()}{detail[1:]}"


def _reason(model: EventModel, raw: bytes, now: datetime, max_future: timedelta) -> str:
    """Why the Struct refused `raw`: the first breach in the order of docs/events.md."""
    view = model.view
    try:
        doc = msgspec.json.decode(raw)
    except msgspec.ValidationError:
        return "value holds a number out of range"
    except msgspec.DecodeError as exc:
        return _not_json(exc)
    if not isinstance(doc, dict):
        return f"value must be a JSON object, got {type(doc).__name__}"
    version = doc.get(SCHEMA_VERSION_FIELD)
    if version != SCHEMA_VERSION or type(version) is not int:
        return f"{SCHEMA_VERSION_FIELD} must be {SCHEMA_VERSION}, got {_describe(version)}"
    missing = [name for name in model.field_types if name not in doc]
    if missing:
        return f"missing field(s) {', '.join(map(repr, missing))} for view {view.name!r}"
    unknown = set(doc) - set(model.field_types)
    if unknown:
        return f"unknown field(s) {_field_names(unknown)} for view {view.name!r}"
    if field_problem(EVENT_ID, model.field_types[EVENT_ID], doc[EVENT_ID]):
        return (
            f"{EVENT_ID!r} must be a non-empty string of at most {MAX_EVENT_ID_LENGTH} characters"
        )
    if not isinstance(doc[EVENT_TIMESTAMP], str):
        return f"field {EVENT_TIMESTAMP!r} must be an ISO-8601 string"
    try:
        _parse_timestamp(doc[EVENT_TIMESTAMP], now, max_future)
        view.entity_key.parse(doc[view.entity.name])
    except (InvalidEvent, ValueError) as exc:  # both worded without the value
        return str(exc)
    for column in view.features:
        value = doc[column.name]
        if value is None:
            return f"field {column.name!r} is null; the full feature row is required"
        problem = field_problem(column.name, model.field_types[column.name], value)
        if problem is not None:
            return f"field {column.name!r} {problem.message}"
    return f"value does not match the event schema of view {view.name!r}"


def view_of_topic(topic: str, prefix: str = "") -> ViewContract:
    for view in VIEWS:
        if topic_name(view, prefix) == topic:
            return view
    raise CreditPipelineError(f"topic {topic!r} carries no feature view (prefix {prefix!r})")
