"""Online rows carry Feast's own protobuf encoding of keys and values."""

from __future__ import annotations

from datetime import UTC, datetime

from feast.infra.key_encoding_utils import serialize_entity_key
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType

from core.contract import CREDIT_HISTORY, ZIPCODE_FEATURES
from core.events import new_event
from stream_processor.online_rows import entity_key_proto, online_rows, value_proto

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_values_match_feasts_own_conversion() -> None:
    cases = [(ValueType.INT64, "int64", 42), (ValueType.STRING, "string", "TX")]
    for value_type, kind, value in cases:
        (expected,) = python_values_to_proto_values([value], value_type)
        assert value_proto(kind, value) == expected  # type: ignore[arg-type]


def test_entity_keys_serialize_like_feasts() -> None:
    key = entity_key_proto(ZIPCODE_FEATURES, 76104)
    (expected_value,) = python_values_to_proto_values([76104], ValueType.INT64)
    assert list(key.join_keys) == ["zipcode"]
    assert key.entity_values[0] == expected_value
    assert serialize_entity_key(key, 3)  # serializable with the repo's version


def test_one_row_per_event_with_every_feature_and_the_event_time() -> None:
    # Distinct values, decreasing: the missed payments stay ordered (6m <= 1y <= 2y).
    features = {c.name: 20 - i for i, c in enumerate(CREDIT_HISTORY.features)}
    row = {"dob_ssn": "19630621_4278", **features}
    event = new_event(CREDIT_HISTORY, row, event_timestamp=T0)
    ((key, values, ts, created),) = online_rows(CREDIT_HISTORY, [event])
    assert key.entity_values[0].string_val == "19630621_4278"
    assert set(values) == set(CREDIT_HISTORY.feature_names)
    assert values["mortgage_due"].int64_val == row["mortgage_due"]
    assert ts == T0
    assert created is None
