"""`decisions show` and `replay` output, pure: masking, rendering, the replay report."""

from __future__ import annotations

from typing import Any

from core.contract import MASK
from scoring_api.decisions_cli import masked, render, render_replay, replay_report
from scoring_api.service.replay import Replay

DOB_SSN = "19630621_4278"


def logged_record() -> dict[str, Any]:
    return {
        "record_version": 1,
        "request_id": "req-1",
        "decision_id": "d1",
        "decided_at": "2026-12-01T05:00:00+00:00",
        "model_version": "v1",
        "application": {"dob_ssn": DOB_SSN, "zipcode": 76104, "loan_amnt": 35000},
        "features": {
            "credit_history": {
                "status": "present",
                "event_timestamp": "2026-11-30T00:00:00+00:00",
                "older_than_ttl": False,
                "values": {"missed_payments_6m": 6},
            }
        },
        "p_default": 0.8,
        "margin": 1.386,
        "base_margin": -1.2,
        "threshold": 0.35,
        "decision": "rejected",
        "reasons": [
            {
                "feature": "missed_payments_6m",
                "view": "credit_history",
                "value": 6,
                "contribution": 1.1,
                "phrase": "6 missed payments in the last 6 months",
            }
        ],
        "warnings": [],
    }


def test_show_masks_the_dob_ssn_and_prints_the_reasons() -> None:
    record = logged_record()
    text = render(masked(record))
    assert DOB_SSN not in text and MASK in text
    assert "REJECTED" in text and "6 missed payments in the last 6 months" in text
    assert "missed_payments_6m = 6" in text and "zipcode = 76104" in text
    assert record["application"]["dob_ssn"] == DOB_SSN  # masking copies
    assert masked(record)["application"]["zipcode"] == 76104  # not sensitive: as it was
    assert list(masked(record))[:3] == ["record_version", "request_id", "decision_id"]


def replay(p: float | None, logged: float = 0.3, error: str | None = None) -> Replay:
    decision = None if p is None else ("approved" if p < 0.35 else "rejected")
    return Replay("r", "d", "v1", "v1", logged, p, "approved", decision, error)


def test_replay_report_counts_bitwise_differences_and_changed_decisions() -> None:
    same, nudged = 0.3, 0.30000000000000004
    replays = [replay(same), replay(nudged), replay(0.9), replay(None, error="reads 'x'")]
    report = replay_report(replays, 0.5, against=None)
    assert report["replayed"] == 4
    assert report["identical"] == 1
    assert report["different"] == 3  # one ulp apart counts
    assert report["decision_changed"] == 1
    assert report["not_replayable"] == 1
    assert report["decisions_per_second"] == 8
    text = render_replay(report)
    assert "identical probability (bit for bit): 1" in text and "reads 'x'" in text
