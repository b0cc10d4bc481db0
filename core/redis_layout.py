"""Feast's Redis online layout, by hand from the contract (no protobuf objects, no Feast).

One Redis hash per entity and project: its key is the serialized entity key (serialization
version 3) followed by the project name; each feature is a field named by the murmur3 hash of
`view:feature` holding a serialized `feast.types.Value`; the field `_ts:view` holds the row's
event time as a serialized `google.protobuf.Timestamp`. The encoders below write the bytes the
protobuf library writes for the three kinds the contract has, and the decoders read them back
(anything else falls back to the protobuf parser). tests/core/test_redis_layout.py checks both
against Feast's own code for every contract type; the processor's direct writer and the API's
direct reader are checked against Feast's writer and reader on a real Redis.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import mmh3

from core.contract import Kind, ViewContract

# Feast's `entity_key_serialization_version` this layout writes (core/feast_store.py sets it).
ENTITY_KEY_SERIALIZATION_VERSION = 3

# feast.value_type.ValueType numbers, as the entity-key serialization writes them.
_VALUE_TYPE = {"string": 2, "int64": 4, "float64": 5}
_UINT32 = struct.Struct("<I")
_DOUBLE = struct.Struct("<d")
_INT64 = struct.Struct("<q")
_UINT64_WRAP = 1 << 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def varint(value: int) -> bytes:
    """Protobuf base-128 varint; a negative int64 is written as its 64-bit two's complement."""
    if value < 0:
        value += _UINT64_WRAP
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# feast.types.Value: string_val is field 2 (length-delimited), int64_val field 4 (varint),
# double_val field 5 (64-bit). A oneof member is written even when it is 0 or empty.
def _string_value(value: str) -> bytes:
    raw = value.encode()
    return b"\x12" + varint(len(raw)) + raw


# Counts and amounts are mostly small: their encodings are looked up, not computed.
_SMALL_INT64 = [b"\x20" + varint(i) for i in range(1 << 14)]


def _int64_value(value: int) -> bytes:
    if 0 <= value < 16384:
        return _SMALL_INT64[value]
    return b"\x20" + varint(value)


def _double_value(value: float) -> bytes:
    return b"\x29" + _DOUBLE.pack(value)


ValueEncoder = Callable[[Any], bytes]
VALUE_ENCODERS: dict[Kind, ValueEncoder] = {
    "string": _string_value,
    "int64": _int64_value,
    "float64": _double_value,
}


@lru_cache(maxsize=1024)
def _seconds_field(seconds: int) -> bytes:
    """Timestamp field 1; the events of a batch share a few seconds, so they are cached."""
    return b"\x08" + varint(seconds)


def timestamp_bytes(at: datetime) -> tuple[int, int, bytes]:
    """Seconds, nanos and the serialized protobuf Timestamp of an aware datetime (as
    `Timestamp.FromDatetime` sets them: whole seconds since the epoch, microseconds x 1000)."""
    since = at - _EPOCH  # exact integer arithmetic, unlike at.timestamp()
    seconds = since.days * 86_400 + since.seconds
    nanos = since.microseconds * 1000
    raw = (b"\x08" + varint(seconds) if seconds else b"") + (
        b"\x10" + varint(nanos) if nanos else b""
    )
    return seconds, nanos, raw


def field_hash(view_name: str, feature: str) -> bytes:
    """The hash field of one feature: murmur3 (x86, 32 bit) of `view:feature`, little endian."""
    return _UINT32.pack(mmh3.hash(f"{view_name}:{feature}", signed=False))


def _entity_value_bytes(kind: Kind, value: Any) -> bytes:
    if kind == "string":
        return str(value).encode()
    if kind == "int64":
        return _INT64.pack(value)
    raise ValueError(f"Feast cannot serialize a {kind} entity key")


@dataclass(frozen=True)
class ViewLayout:
    """What every row of one view shares: key prefix and suffix, field names, value encoders."""

    name: str
    ts_field: bytes
    fields: tuple[bytes, ...]
    encoders: tuple[ValueEncoder, ...]
    feature_names: tuple[str, ...]
    _key_head: bytes
    _key_kind: Kind
    _key_type: bytes
    _project: bytes

    @classmethod
    def of(cls, view: ViewContract, project: str) -> ViewLayout:
        join_key = view.entity.name.encode()
        head = _UINT32.pack(1) + _UINT32.pack(_VALUE_TYPE["string"])
        return cls(
            name=view.name,
            ts_field=f"_ts:{view.name}".encode(),
            fields=tuple(field_hash(view.name, c.name) for c in view.features),
            encoders=tuple(VALUE_ENCODERS[c.kind] for c in view.features),
            feature_names=tuple(c.name for c in view.features),
            _key_head=head + _UINT32.pack(len(join_key)) + join_key,
            _key_kind=view.entity.kind,
            _key_type=_UINT32.pack(_VALUE_TYPE[view.entity.kind]),
            _project=project.encode(),
        )

    def redis_key(self, entity_value: Any) -> bytes:
        """Serialized entity key (version 3) + project: the Redis key of the entity's hash."""
        raw = _entity_value_bytes(self._key_kind, entity_value)
        return self._key_head + self._key_type + _UINT32.pack(len(raw)) + raw + self._project

    def values(self, row: dict[str, Any]) -> list[bytes]:
        """The serialized Value of each feature of `row`, in contract order."""
        # Validated events carry every feature, never None (core/event_model.py).
        return [
            encode(row[name])
            for name, encode in zip(self.feature_names, self.encoders, strict=True)
        ]


# -- decoding (the API's direct reader) ------------------------------------------------------


def _read_varint(raw: bytes, at: int) -> tuple[int, int]:
    """The varint starting at `at`, and the position after it (IndexError if cut short)."""
    value, shift = 0, 0
    while True:
        byte = raw[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _signed64(value: int) -> int:
    return value - _UINT64_WRAP if value >= 1 << 63 else value


def decode_value(raw: bytes | None) -> Any:
    """The Python value of a serialized `feast.types.Value` (None when unset or null), as
    `getattr(value, value.WhichOneof("val"))` gives it."""
    if not raw:
        return None
    tag = raw[0]
    try:
        if tag == 0x20:  # int64_val
            value, end = _read_varint(raw, 1)
            if end == len(raw):
                return _signed64(value)
        elif tag == 0x29 and len(raw) == 9:  # double_val
            return _DOUBLE.unpack_from(raw, 1)[0]
        elif tag == 0x12:  # string_val
            length, start = _read_varint(raw, 1)
            if start + length == len(raw):
                return raw[start:].decode()
    except (IndexError, UnicodeDecodeError):
        pass
    return _decode_value_slowly(raw)


def _decode_value_slowly(raw: bytes) -> Any:
    """Any other encoding (other kinds, repeated fields): the protobuf library decides."""
    from feast.protos.feast.types.Value_pb2 import Value

    value = Value.FromString(raw)
    kind = value.WhichOneof("val")
    return None if kind in (None, "null_val") else getattr(value, kind)


def decode_timestamp(raw: bytes | None) -> tuple[int, int]:
    """Seconds and nanos of a serialized `google.protobuf.Timestamp` ((0, 0) when absent)."""
    if not raw:
        return 0, 0
    seconds = nanos = 0
    at = 0
    try:
        while at < len(raw):
            tag = raw[at]
            if tag == 0x08:
                seconds, at = _read_varint(raw, at + 1)
            elif tag == 0x10:
                nanos, at = _read_varint(raw, at + 1)
            else:
                break
        else:
            return _signed64(seconds), nanos
    except IndexError:
        pass
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp.FromString(raw)
    return stamp.seconds, stamp.nanos
