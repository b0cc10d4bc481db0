"""`credit-pipeline consistency` against the real stack (the API tests' trained stack): no
mismatch after a clean run, exactly the injected one after an online write that bypassed the
offline store. The comparison's semantics are tested pure in tests/training."""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from bench.consistency import decide_records
from core.contract import CREDIT_HISTORY, MASK
from core.decision_log import DecisionLogStore
from core.feast_store import open_store
from training.cli import EXIT_CONSISTENT, EXIT_MISMATCHES, EXIT_NO_REPORT, run_consistency
from training.consistency import (
    NoDecisionsError,
    consistency_report,
    format_report,
)

DOB_SSN = "19630621_4278"
# A valid key with no credit report anywhere (the test checks the offline store).


# A valid key with no credit report anywhere (the test checks the offline store).
NEWCOMER = "19000102_0001"


def tally(report: Any, ref: str) -> Any:
    return next(t for t in report.tallies if f"{t.view}:{t.feature}" == ref)


def _log(settings: Any, records: list[dict[str, Any]]) -> None:
    store = DecisionLogStore(settings)
    try:
        store.create_table()
        assert store.append(records) == len(records)
    finally:
        store.close()


def _write_credit_row(store: Any, dob_ssn: str, values: dict[str, Any], at: datetime) -> None:
    row = {"dob_ssn": dob_ssn, **values, "event_timestamp": at, "created_timestamp": at}
    frame = pd.DataFrame([row])
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    frame["created_timestamp"] = pd.to_datetime(frame["created_timestamp"], utc=True)
    store.write_to_online_store(CREDIT_HISTORY.name, frame)


@pytest.mark.integration
def test_the_report_finds_no_skew_then_exactly_the_injected_one(
    trained_stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = trained_stack.settings
    tag = f"cons-{uuid.uuid4().hex[:8]}"
    started = datetime.now(UTC)
    # From the history's middle: the latest loans are the ones other modules score, and this
    # test skews one applicant's online row.
    apps = trained_stack.loan_applications(
        50, start=len(trained_stack.history.loans) // 3, newest_first=False
    )
    # An applicant without a credit report: served missing, and null offline too.
    newcomer = {**apps[0], "dob_ssn": NEWCOMER}
    assert trained_stack.offline_rows(CREDIT_HISTORY.table, "dob_ssn", NEWCOMER).empty
    clean = asyncio.run(decide_records(settings, trained_stack.model_dir, [*apps, newcomer], tag))
    assert len(clean) >= 45, "the history should score nearly every application"
    assert clean[-1]["features"]["credit_history"]["status"] == "missing"
    _log(settings, clean)
    ids = [r["request_id"] for r in clean]

    report = consistency_report(settings, since=started, request_ids=ids)
    assert report.decisions == len(clean)
    assert report.mismatches == 0, format_report(report)
    features = sum(len(r["features"][v]["values"]) for r in clean for v in r["features"])
    assert report.compared + report.not_comparable == features
    assert report.compared > 0

    # Skew: a newer credit report for one applicant, online only, with one value changed.
    victim = next(
        r
        for r in clean
        if r["features"]["credit_history"]["status"] == "present"
        and not r["features"]["credit_history"]["older_than_ttl"]
    )
    dob_ssn = victim["application"]["dob_ssn"]
    served = dict(victim["features"]["credit_history"]["values"])
    store = open_store(settings)
    _write_credit_row(
        store,
        dob_ssn,
        {**served, "credit_card_due": served["credit_card_due"] + 1_234},
        datetime.now(UTC) - timedelta(seconds=1),
    )
    try:
        app = next(a for a in apps if a["dob_ssn"] == dob_ssn)
        skewed = asyncio.run(
            decide_records(settings, trained_stack.model_dir, [app, app], f"{tag}-skew")
        )
    finally:
        # The original values back (newer again): later tests read this applicant's row.
        _write_credit_row(store, dob_ssn, served, datetime.now(UTC))
    assert [r["features"]["credit_history"]["values"]["credit_card_due"] for r in skewed] == [
        served["credit_card_due"] + 1_234
    ] * 2
    _log(settings, skewed)
    ids += [r["request_id"] for r in skewed]

    report = consistency_report(settings, since=started, request_ids=ids)
    assert report.decisions == len(clean) + 2
    mismatched = {f"{t.view}:{t.feature}": t.mismatches for t in report.tallies if t.mismatches}
    assert mismatched == {"credit_history:credit_card_due": 2}
    examples = tally(report, "credit_history:credit_card_due").examples
    assert {e.request_id for e in examples} == {r["request_id"] for r in skewed}
    assert {(e.entity_key, e.entity) for e in examples} == {("dob_ssn", MASK)}
    assert {(e.served, e.offline) for e in examples} == {
        (served["credit_card_due"] + 1_234, served["credit_card_due"])
    }

    # The command over the window (other modules' decisions may share it): exit 1, no key in
    # clear in either form.
    args = argparse.Namespace(since=started, limit=None, examples=50, json=True)
    assert run_consistency(settings, args) == EXIT_MISMATCHES
    as_json = json.loads(capsys.readouterr().out)
    due = as_json["views"]["credit_history"]["features"]["credit_card_due"]
    assert due["mismatches"] >= 2
    assert {e["request_id"] for e in due["examples"]} >= {r["request_id"] for r in skewed}
    assert run_consistency(settings, argparse.Namespace(**{**vars(args), "json": False})) == 1
    table = capsys.readouterr().out
    assert "SKEW" in table and MASK in table
    for text in (table, json.dumps(as_json)):
        assert dob_ssn not in text


@pytest.mark.integration
def test_an_empty_window_is_a_clear_error_and_exit_status_2(
    trained_stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = trained_stack.settings
    _log(settings, [])  # the table exists; the window below holds nothing
    future = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(NoDecisionsError, match="no decisions logged since"):
        consistency_report(settings, since=future)
    args = argparse.Namespace(since=future, limit=None, examples=3, json=False)
    assert run_consistency(settings, args) == EXIT_NO_REPORT
    assert "widen --since" in capsys.readouterr().err
    assert EXIT_CONSISTENT == 0
