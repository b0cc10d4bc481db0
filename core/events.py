"""Update events on Kafka: one topic per feature view, JSON values, schema from the contract.

A value is a flat JSON object: `schema_version`, `event_id`, `event_timestamp` (ISO-8601 with
a UTC offset), the view's entity key and every feature of the view. The message key is the
entity key as text, so one entity's events stay ordered in one partition.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.contract import EVENT_ID, EVENT_TIMESTAMP, VIEWS, Column, ViewContract
from core.errors import CreditPipelineError

SCHEMA_VERSION = 1
SCHEMA_VERSION_FIELD = "schema_version"
ENVELOPE_FIELDS = (SCHEMA_VERSION_FIELD, EVENT_ID, EVENT_TIMESTAMP)
MAX_EVENT_ID_LENGTH = 128
# How far ahead of the processor's clock an event may be stamped (clock skew between hosts).
DEFAULT_MAX_FUTURE = timedelta(minutes=5)
_INT64 = (-(2**63), 2**63 - 1)


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


# A field name is echoed in a reason only when it looks like a name, not like data: an
# identifier without a run of 3+ digits (a dob_ssn, a zipcode or a date sent as a key is not).
_SHOWABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_DIGIT_RUN = re.compile(r"[0-9]{3}")


def _field_names(names: set[str]) -> str:
    """Unknown field names for a reason: plain names quoted, the rest only counted."""
    shown = sorted(n for n in names if _SHOWABLE_NAME.fullmatch(n) and not _DIGIT_RUN.search(n))
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


def _parse_value(column: Column, value: Any) -> Any:
    if value is None:
        raise InvalidEvent(f"field {column.name!r} is null; the full feature row is required")
    if column.kind == "int64":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidEvent(
                f"field {column.name!r} must be an integer, got {type(value).__name__}"
            )
        if not _INT64[0] <= value <= _INT64[1]:
            raise InvalidEvent(f"field {column.name!r} is outside the int64 range")
        return value
    if column.kind == "float64":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidEvent(f"field {column.name!r} must be a finite number")
        return float(value)
    if not isinstance(value, str):
        raise InvalidEvent(f"field {column.name!r} must be a string, got {type(value).__name__}")
    return value


def _parse_timestamp(value: Any, now: datetime, max_future: timedelta) -> datetime:
    if not isinstance(value, str):
        raise InvalidEvent(f"field {EVENT_TIMESTAMP!r} must be an ISO-8601 string")
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
    """Validate a Kafka value against the view's contract, or raise InvalidEvent."""
    if raw is None:
        raise InvalidEvent("empty message (tombstone); an update event is required")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent(
            f"value is not JSON: {exc.msg if hasattr(exc, 'msg') else exc}"
        ) from None
    if not isinstance(doc, dict):
        raise InvalidEvent(f"value must be a JSON object, got {type(doc).__name__}")
    version = doc.get(SCHEMA_VERSION_FIELD)
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise InvalidEvent(
            f"{SCHEMA_VERSION_FIELD} must be {SCHEMA_VERSION}, got {_describe(version)}"
        )
    expected = {*ENVELOPE_FIELDS, *(c.name for c in view.row_columns)}
    missing = [
        name for name in (*ENVELOPE_FIELDS, *(c.name for c in view.row_columns)) if name not in doc
    ]
    if missing:
        raise InvalidEvent(
            f"missing field(s) {', '.join(map(repr, missing))} for view {view.name!r}"
        )
    unknown = set(doc) - expected
    if unknown:
        raise InvalidEvent(f"unknown field(s) {_field_names(unknown)} for view {view.name!r}")
    event_id = doc[EVENT_ID]
    if not isinstance(event_id, str) or not event_id or len(event_id) > MAX_EVENT_ID_LENGTH:
        raise InvalidEvent(
            f"{EVENT_ID!r} must be a non-empty string of at most {MAX_EVENT_ID_LENGTH} characters"
        )
    ts = _parse_timestamp(doc[EVENT_TIMESTAMP], now or datetime.now(UTC), max_future)
    try:
        key = view.entity_key.parse(doc[view.entity.name])
    except ValueError as exc:
        raise InvalidEvent(str(exc)) from None
    row = {view.entity.name: key}
    for column in view.features:
        row[column.name] = _parse_value(column, doc[column.name])
    return UpdateEvent(view=view, event_id=event_id, event_timestamp=ts, row=row)


def view_of_topic(topic: str, prefix: str = "") -> ViewContract:
    for view in VIEWS:
        if topic_name(view, prefix) == topic:
            return view
    raise CreditPipelineError(f"topic {topic!r} carries no feature view (prefix {prefix!r})")
