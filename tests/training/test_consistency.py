"""`credit-pipeline consistency`: the comparison's semantics, pure (the report against the real
stack is tests/scoring_api/test_consistency_report.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.contract import MASK
from core.decision_log import RECORD_VERSION
from training.cli import run_consistency
from training.consistency import (
    compare_decisions,
    format_report,
    values_equal,
)

DOB_SSN = "19630621_4278"


def record(
    request_id: str = "r-1",
    *,
    credit: dict[str, Any] | None = None,
    status: str = "present",
    older_than_ttl: bool = False,
    zipcode: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A decision record as the API logs it, with two views."""
    return {
        "record_version": RECORD_VERSION,
        "request_id": request_id,
        "decided_at": "2026-05-01T12:00:00.123456+00:00",
        "application": {"dob_ssn": DOB_SSN, "zipcode": 76104},
        "features": {
            "credit_history": {
                "status": status,
                "event_timestamp": "2026-04-01T00:00:00+00:00" if status == "present" else None,
                "older_than_ttl": older_than_ttl,
                "values": credit if credit is not None else {"credit_card_due": 500},
            },
            "zipcode_features": {
                "status": "present",
                "event_timestamp": "2020-01-01T00:00:00+00:00",
                "older_than_ttl": False,
                "values": zipcode if zipcode is not None else {"city": "FORT WORTH"},
            },
        },
    }


def offline(**values: Any) -> dict[str, Any]:
    """An offline row by `view:feature`, defaults equal to `record()`'s served values."""
    row: dict[str, Any] = {
        "credit_history:credit_card_due": 500,
        "zipcode_features:city": "FORT WORTH",
    }
    row.update({k.replace("__", ":"): v for k, v in values.items()})
    return row


def tally(report: Any, ref: str) -> Any:
    (found,) = [t for t in report.tallies if f"{t.view}:{t.feature}" == ref]
    return found


# -- pure: values_equal --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("served", "stored"),
    [
        (500, 500.0),  # an int feature pandas turned into a float
        (500, np.int64(500)),
        (0.25, np.float64(0.25)),
        ("FORT WORTH", "FORT WORTH"),
        (None, None),
        (None, float("nan")),
        (None, np.float64("nan")),
        (None, pd.NA),
        (None, pd.NaT),
    ],
)
def test_equal_values_in_their_pandas_and_json_forms_match(served: Any, stored: Any) -> None:
    assert values_equal(served, stored)


@pytest.mark.parametrize(
    ("served", "stored"),
    [(500, 501.0), (500, None), (None, 0), ("500", 500), (0.1, 0.1000001), (True, 1)],
)
def test_different_values_do_not_match(served: Any, stored: Any) -> None:
    assert not values_equal(served, stored)


def test_float32_features_compare_at_float32_precision_and_others_exactly() -> None:
    # An online Float32 read is the float32 widened to a double; the offline store keeps 0.1.
    online = float(np.float32(0.1))
    assert online != 0.1
    assert values_equal(online, 0.1, "float32")
    assert not values_equal(online, 0.1, "exact")
    assert not values_equal(float(np.float32(0.1)), 0.1001, "float32")


# -- pure: compare_decisions ---------------------------------------------------------------


def test_equal_served_and_offline_values_are_counted_as_compared_without_mismatch() -> None:
    report = compare_decisions([record("a"), record("b")], [offline(), offline()], {})
    assert (report.decisions, report.compared, report.mismatches) == (2, 4, 0)
    assert report.not_comparable == 0
    assert tally(report, "credit_history:credit_card_due").compared == 2


def test_a_mismatch_is_counted_with_an_example_whose_sensitive_key_is_masked() -> None:
    report = compare_decisions(
        [record("a"), record("b", credit={"credit_card_due": 9_999})],
        [offline(), offline()],
        {},
    )
    due = tally(report, "credit_history:credit_card_due")
    assert (due.compared, due.mismatches) == (2, 1)
    (example,) = due.examples
    assert (example.request_id, example.served, example.offline) == ("b", 9_999, 500)
    assert (example.entity_key, example.entity) == ("dob_ssn", MASK)
    assert tally(report, "zipcode_features:city").mismatches == 0
    shown = format_report(report) + json.dumps(report.to_json())
    assert DOB_SSN not in shown
    assert MASK in shown
    assert report.to_json()["views"]["credit_history"]["mismatches"] == 1


def test_an_insensitive_key_is_shown_in_the_example() -> None:
    report = compare_decisions([record(zipcode={"city": "DALLAS"})], [offline()], {})
    (example,) = tally(report, "zipcode_features:city").examples
    assert (example.entity_key, example.entity) == ("zipcode", "76104")


@pytest.mark.parametrize("status", ["missing", "stale"])
def test_a_view_served_missing_or_stale_is_compared_with_offline_null(status: str) -> None:
    served = record(status=status, credit={"credit_card_due": None})
    clean = compare_decisions([served], [offline(credit_history__credit_card_due=np.nan)], {})
    assert (clean.compared, clean.mismatches) == (2, 0)
    # Training would have had a value where the API decided without one: skew.
    skewed = compare_decisions([served], [offline()], {})
    (example,) = tally(skewed, "credit_history:credit_card_due").examples
    assert (example.served, example.offline) == (None, 500)


def test_a_value_used_although_older_than_its_ttl_is_not_comparable() -> None:
    old = record(older_than_ttl=True, credit={"credit_card_due": 500})
    # The point-in-time join never looks back beyond the TTL: offline is null by design.
    report = compare_decisions([old], [offline(credit_history__credit_card_due=None)], {})
    due = tally(report, "credit_history:credit_card_due")
    assert (due.compared, due.mismatches, due.not_comparable) == (0, 0, 1)
    assert report.mismatches == 0
    assert "not comparable" in format_report(report)


def test_a_feature_without_an_offline_counterpart_is_not_comparable() -> None:
    report = compare_decisions(
        [record(credit={"credit_card_due": 500, "retired_feature": 3})], [offline()], {}
    )
    assert tally(report, "credit_history:retired_feature").not_comparable == 1
    assert report.mismatches == 0


def test_examples_are_capped_but_every_mismatch_is_counted() -> None:
    records = [record(f"r{i}", credit={"credit_card_due": i}) for i in range(10)]
    report = compare_decisions(records, [offline()] * 10, {}, max_examples=2)
    due = tally(report, "credit_history:credit_card_due")
    assert due.mismatches == 10  # r0..r9 against 500
    assert [e.request_id for e in due.examples] == ["r0", "r1"]


def test_features_are_reported_in_the_services_order() -> None:
    order = {"zipcode_features:city": "exact", "credit_history:credit_card_due": "exact"}
    report = compare_decisions([record()], [offline()], order)  # type: ignore[arg-type]
    assert [t.feature for t in report.tallies] == ["city", "credit_card_due"]


def test_the_float32_precision_of_a_reference_is_applied() -> None:
    served = record(credit={"credit_card_due": float(np.float32(0.1))})
    row = offline(credit_history__credit_card_due=0.1)
    float32 = {"credit_history:credit_card_due": "float32"}
    assert compare_decisions([served], [row], float32).mismatches == 0  # type: ignore[arg-type]
    assert compare_decisions([served], [row], {}).mismatches == 1


def test_the_consistency_command_parses_durations_and_iso_times() -> None:
    from credit_pipeline.cli import build_parser

    before = datetime.now(UTC)
    args = build_parser().parse_args(["consistency", "--since", "2h", "--json"])
    assert args.json and args.func is run_consistency
    assert abs(args.since - (before - timedelta(hours=2))) < timedelta(seconds=5)
    args = build_parser().parse_args(["consistency", "--since", "2026-05-01T12:00"])
    assert args.since == datetime(2026, 5, 1, 12, tzinfo=UTC)
    default = build_parser().parse_args(["consistency"]).since
    assert abs(default - (before - timedelta(days=1))) < timedelta(seconds=5)


def test_the_commands_help_imports_no_heavy_library(
    tmp_path: Any, cli_listing_heavy: Callable[..., Any]
) -> None:
    env = {**os.environ, "CREDIT_STATE_DIR": str(tmp_path / "state")}
    done, heavy = cli_listing_heavy(env, "consistency", "--help")
    assert "--since" in done.stdout
    assert heavy == []
