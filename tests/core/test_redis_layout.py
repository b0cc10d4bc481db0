"""The hand-written encoders of Feast's Redis layout give the bytes Feast's own code gives."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from feast.infra.online_stores.helpers import _mmh3, _redis_key
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType
from google.protobuf.timestamp_pb2 import Timestamp

from core.contract import VIEWS, Kind, ViewContract
from core.feast_store import PROJECT, repo_config_fields
from core.redis_layout import (
    ENTITY_KEY_SERIALIZATION_VERSION,
    VALUE_ENCODERS,
    ViewLayout,
    decode_timestamp,
    decode_value,
    timestamp_bytes,
    varint,
)
from stream_processor.online_rows import entity_key_proto
from tests.stream_processor.conftest import EntityKeys

FEAST_TYPE: dict[Kind, ValueType] = {
    "int64": ValueType.INT64,
    "float64": ValueType.DOUBLE,
    "string": ValueType.STRING,
}
_rng = random.Random(13)
INTS = [0, 1, -1, 127, 128, 300, -300, 2**31, -(2**31), 2**63 - 1, -(2**63)] + [
    _rng.randint(-(2**63), 2**63 - 1) for _ in range(200)
]
FLOATS = [0.0, -0.0, 1.5, -2.25, 1e308, 5e-324, math.inf, -math.inf] + [
    _rng.uniform(-1e9, 1e9) for _ in range(200)
]
STRINGS = ["", "TX", "a" * 127, "b" * 128, "é—漢字🙂", "x" * 70_000] + [
    "".join(chr(_rng.randint(32, 0x2FFF)) for _ in range(_rng.randint(0, 40))) for _ in range(200)
]
SAMPLES: dict[Kind, list[object]] = {"int64": INTS, "float64": FLOATS, "string": STRINGS}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_value_bytes_equal_feasts_conversion_for_every_kind(kind: Kind) -> None:
    values = SAMPLES[kind]
    expected = python_values_to_proto_values(values, FEAST_TYPE[kind])
    encode = VALUE_ENCODERS[kind]
    for value, proto in zip(values, expected, strict=True):
        assert encode(value) == proto.SerializeToString(), value


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_values_decode_as_the_protobuf_parser_reads_them(kind: Kind) -> None:
    for proto in python_values_to_proto_values(SAMPLES[kind], FEAST_TYPE[kind]):
        expected = getattr(proto, str(proto.WhichOneof("val")))
        decoded = decode_value(proto.SerializeToString())
        assert type(decoded) is type(expected)
        assert decoded == expected or (math.isnan(decoded) and math.isnan(expected))


def test_other_encodings_fall_back_to_the_parser() -> None:
    assert decode_value(None) is None
    assert decode_value(b"") is None  # a field Feast never wrote: an empty Value
    assert decode_value(ValueProto(null_val=0).SerializeToString()) is None
    assert decode_value(ValueProto(bool_val=True).SerializeToString()) is True
    assert decode_value(ValueProto(int32_val=-7).SerializeToString()) == -7
    # Two occurrences of the field: the parser keeps the last, and so must we.
    twice = (
        ValueProto(int64_val=1).SerializeToString() + ValueProto(int64_val=2).SerializeToString()
    )
    assert decode_value(twice) == 2


def test_timestamps_decode_as_the_parser_reads_them() -> None:
    base = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert decode_timestamp(None) == (0, 0)
    assert decode_timestamp(b"") == (0, 0)
    for at in [datetime(1960, 1, 1, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC), base] + [
        base + timedelta(microseconds=_rng.randint(-(10**15), 10**13)) for _ in range(200)
    ]:
        proto = Timestamp()
        proto.FromDatetime(at)
        assert decode_timestamp(proto.SerializeToString()) == (proto.seconds, proto.nanos)


def test_every_kind_of_the_contract_has_an_encoder() -> None:
    kinds = {c.kind for view in VIEWS for c in (view.entity, *view.features)}
    assert kinds <= set(VALUE_ENCODERS)


def test_varint_matches_protobuf_for_negative_and_large_values() -> None:
    for value in INTS:
        assert b"\x20" + varint(value) == ValueProto(int64_val=value).SerializeToString()


def test_timestamps_serialize_like_from_datetime() -> None:
    base = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    instants = [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        base,
        base.replace(microsecond=999_999),
        base.astimezone(timezone(timedelta(hours=-5))),
    ] + [base + timedelta(microseconds=_rng.randint(0, 10**13)) for _ in range(200)]
    for at in instants:
        proto = Timestamp()
        proto.FromDatetime(at)
        assert timestamp_bytes(at) == (proto.seconds, proto.nanos, proto.SerializeToString())


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v.name)
def test_keys_and_fields_equal_feasts(view: ViewContract) -> None:
    layout = ViewLayout.of(view, PROJECT)
    entity_keys = EntityKeys()
    values: list[object] = (
        [entity_keys.dob_ssn() for _ in range(50)]
        if view.entity.kind == "string"
        else [0, 1, 76104, 99999, -5, 2**40]
    )
    for value in values:
        expected = _redis_key(
            PROJECT, entity_key_proto(view, value), ENTITY_KEY_SERIALIZATION_VERSION
        )
        assert layout.redis_key(value) == expected
    assert layout.fields == tuple(_mmh3(f"{view.name}:{c.name}") for c in view.features)
    assert layout.ts_field == f"_ts:{view.name}".encode()


def test_the_repo_config_uses_the_serialization_version_of_the_layout() -> None:
    from core.settings import Settings

    fields = repo_config_fields(Settings())
    assert fields["entity_key_serialization_version"] == ENTITY_KEY_SERIALIZATION_VERSION
