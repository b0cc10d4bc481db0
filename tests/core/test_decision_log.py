"""The decision record's wire format: exact floats, and a clear reason for what is not one."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from core.decision_log import RECORD_VERSION, BadDecisionRecord, decode, encode


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "record_version": RECORD_VERSION,
        "request_id": "r1",
        "decision_id": "d1",
        "decided_at": "2026-12-01T05:00:00.123456+00:00",
        "model_version": "v1",
        "application": {"dob_ssn": "19630621_4278", "zipcode": 76104},
        "features": {},
        "p_default": 0.1 + 0.2,
        "margin": -1.5,
        "base_margin": -2.0,
        "threshold": 0.35,
        "decision": "approved",
        "reasons": [],
    }
    return {**base, **changes}


def test_floats_come_back_bit_for_bit() -> None:
    rng = random.Random(7)
    for _ in range(1_000):
        p = rng.random() ** rng.randint(1, 40)
        assert decode(encode(record(p_default=p)))["p_default"] == p


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "empty message"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"request_id": "x"}).encode(), "missing fields"),
        (encode(record(record_version=99)), "record_version 99"),
        (encode(record(request_id="")), "request_id"),
        (encode(record(decision_id=None)), "decision_id"),
        (encode(record(decided_at="yesterday")), "decided_at"),
        (encode(record(decided_at="2026-12-01T05:00:00")), "no time zone"),
        (encode(record(p_default="0.3")), "p_default"),
    ],
)
def test_what_is_not_a_record_is_refused_with_its_reason(value: bytes, reason: str) -> None:
    with pytest.raises(BadDecisionRecord, match=reason) as caught:
        decode(value)
    assert "19630621_4278" not in str(caught.value)  # reasons name fields, never values
