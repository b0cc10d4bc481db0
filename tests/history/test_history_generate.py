"""The synthetic history: deterministic, in the contract's shape, and plausible."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from core import contract
from core.contract import CREATED_TIMESTAMP, EVENT_TIMESTAMP
from history import History, default_end, generate_history
from history.synth_loans import HOME_LOGIT, INTENT_LOGIT, INTENT_WEIGHT, LOAN_INTENT_FIELD
from history.synth_persons import HOME_OWNERSHIP_FIELD

log = logging.getLogger(__name__)

DOB = contract.CREDIT_HISTORY.entity.name
ZIPCODE = contract.ZIPCODE_FEATURES.entity.name
PANDAS_DTYPE = {"int64": "int64", "float64": "float64", "string": "object"}


def test_same_seed_gives_identical_tables() -> None:
    first = generate_history(persons=500, zipcodes=300, seed=3)
    again = generate_history(persons=500, zipcodes=300, seed=3)
    for spec, frame in first.tables():
        pd.testing.assert_frame_equal(frame, getattr(again, spec.name))


def test_the_loan_count_leaves_the_other_tables_alone() -> None:
    one_each = generate_history(persons=500, zipcodes=300, seed=3)
    fewer = generate_history(persons=500, zipcodes=300, seed=3, loans=200)
    pd.testing.assert_frame_equal(one_each.zipcodes, fewer.zipcodes)
    pd.testing.assert_frame_equal(one_each.credit_history, fewer.credit_history)
    assert len(fewer.loans) == 200


def test_another_seed_gives_other_tables() -> None:
    first = generate_history(persons=500, zipcodes=300, seed=3)
    other = generate_history(persons=500, zipcodes=300, seed=4)
    for spec, frame in first.tables():
        assert not frame.equals(getattr(other, spec.name)), spec.name


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        ("zipcodes", contract.ZIPCODE_FEATURES.row_columns),
        ("credit_history", contract.CREDIT_HISTORY.row_columns),
        ("loans", contract.LOAN_COLUMNS),
    ],
)
def test_columns_and_dtypes_are_the_contracts(
    learn_history: History, table: str, columns: tuple[contract.Column, ...]
) -> None:
    frame = getattr(learn_history, table)
    assert list(frame.columns) == [c.name for c in columns] + [EVENT_TIMESTAMP, CREATED_TIMESTAMP]
    for column in columns:
        assert str(frame[column.name].dtype) == PANDAS_DTYPE[column.kind], column.name
    for name in (EVENT_TIMESTAMP, CREATED_TIMESTAMP):
        assert frame[name].dtype == pd.DatetimeTZDtype("ns", "UTC")
    assert not frame.isna().any().any()


def test_keys_are_unique(learn_history: History) -> None:
    for spec, frame in learn_history.tables():
        assert not frame.duplicated(subset=list(spec.key)).any(), spec.name


def test_timestamps_lie_in_the_window(learn_history: History) -> None:
    end = pd.Timestamp(default_end())
    start = end - pd.Timedelta(days=2 * 365.25)
    for _, frame in learn_history.tables():
        assert frame[EVENT_TIMESTAMP].between(start, end, inclusive="left").all()
        assert (frame[CREATED_TIMESTAMP] >= frame[EVENT_TIMESTAMP]).all()


def test_zipcodes_look_like_zipcodes(learn_history: History) -> None:
    zipcodes = learn_history.zipcodes
    assert zipcodes[ZIPCODE].between(1_000, 99_999).all()
    snapshots = zipcodes.groupby(ZIPCODE).size()
    assert set(snapshots.unique()) <= {1, 2} and (snapshots == 2).mean() > 0.8
    assert zipcodes["state"].str.fullmatch(r"[A-Z]{2}").all()
    assert set(zipcodes["location_type"]) == {"PRIMARY", "ACCEPTABLE", "NOT ACCEPTABLE"}
    average_wage = zipcodes["total_wages"] / zipcodes["tax_returns_filed"]
    assert average_wage.between(8_000, 400_000).all()
    assert (zipcodes["tax_returns_filed"] < zipcodes["population"]).all()


def test_persons_have_several_reports_that_evolve(learn_history: History) -> None:
    credit = learn_history.credit_history
    reports = credit.groupby(DOB).size()
    assert reports.min() >= 2 and reports.max() <= 6 and reports.mean() > 3
    assert set(learn_history.loans[DOB]) <= set(reports.index)
    six_months, one_year, two_years = (
        credit[f"missed_payments_{window}"] for window in ("6m", "1y", "2y")
    )
    assert (six_months <= one_year).all() and (one_year <= two_years).all()
    # The same person's reports differ over time.
    changed = credit.groupby(DOB)["credit_card_due"].nunique() > 1
    assert changed.mean() > 0.8
    assert (credit["mortgage_due"] == 0).mean() > 0.4
    assert (credit["bankruptcies"] == 0).mean() > 0.9


def test_dob_ssn_is_a_valid_date_and_matches_the_age(learn_history: History) -> None:
    loans = learn_history.loans
    assert loans[DOB].str.fullmatch(r"\d{8}_\d{4}").all()
    dob = pd.to_datetime(loans[DOB].str[:8], format="%Y%m%d", utc=True)
    at = loans[EVENT_TIMESTAMP]
    before_birthday = (at.dt.month < dob.dt.month) | (
        (at.dt.month == dob.dt.month) & (at.dt.day < dob.dt.day)
    )
    assert (loans["person_age"] == at.dt.year - dob.dt.year - before_birthday).all()
    age_at_end = (pd.Timestamp(default_end()) - dob).dt.days / 365.25
    assert age_at_end.between(20, 76).all()


def test_loans_are_plausible(learn_history: History) -> None:
    loans = learn_history.loans
    # Every value the contract allows, and no other (the generator names the ones it models).
    for name, values in contract.LOAN_REQUEST_ENUMS.items():
        assert set(loans[name]) == set(values), name
    assert loans["loan_int_rate"].between(5, 25).all()
    assert loans["loan_amnt"].between(500, 35_000).all()
    assert (loans["person_emp_length"] <= loans["person_age"] - 16).all()
    # Each person's zipcode is a zipcode of the zipcode table.
    assert set(loans[ZIPCODE]) <= set(learn_history.zipcodes[ZIPCODE])
    assert loans[contract.LOAN_ID].is_monotonic_increasing  # ids follow time, like a log


def test_some_loans_precede_the_first_report(learn_history: History) -> None:
    first_report = learn_history.credit_history.groupby(DOB)[EVENT_TIMESTAMP].min()
    loans = learn_history.loans
    before = loans[EVENT_TIMESTAMP] < loans[DOB].map(first_report)
    assert 0.02 < before.mean() < 0.10


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="timezone"):
        generate_history(persons=10, zipcodes=10, end=datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="zipcodes"):
        generate_history(persons=10, zipcodes=0)


def test_loans_beyond_persons_and_a_short_window() -> None:
    history = generate_history(
        persons=200, zipcodes=100, loans=500, end=default_end() - timedelta(days=100), years=1
    )
    assert len(history.loans) == 500
    assert history.loans[contract.LOAN_ID].is_unique
    assert history.credit_history.groupby(DOB).size().min() >= 2


def test_default_size_generates_in_seconds() -> None:
    started = time.perf_counter()
    history = generate_history()
    elapsed = time.perf_counter() - started
    log.info("default-size history generated in %.2f s", elapsed)
    assert len(history.loans) == 30_000
    assert history.loans[DOB].nunique() == 30_000
    assert history.credit_history[DOB].nunique() == 30_000
    assert history.zipcodes[ZIPCODE].nunique() == 20_000
    assert 90_000 < len(history.credit_history) < 150_000
    assert np.isfinite(elapsed) and elapsed < 30


def test_the_tutorial_applicant_is_in_every_generated_history() -> None:
    """The docs' example request (dob_ssn 19630621_4278, zipcode 76104) has features."""
    history = generate_history(persons=200, zipcodes=50, seed=3)
    reports = history.credit_history[history.credit_history["dob_ssn"] == "19630621_4278"]
    assert len(reports) >= 1
    assert (history.zipcodes["zipcode"] == 76104).any()
    loans = history.loans[history.loans["dob_ssn"] == "19630621_4278"]
    assert set(loans["zipcode"]) <= {76104}


def test_the_generators_parameters_are_for_the_contracts_values() -> None:
    # Enum values live in the definitions; the generator only keys its parameters by them.
    intents = contract.LOAN_REQUEST_ENUMS[LOAN_INTENT_FIELD]
    homes = contract.LOAN_REQUEST_ENUMS[HOME_OWNERSHIP_FIELD]
    assert set(INTENT_WEIGHT) == set(INTENT_LOGIT) == set(intents)
    assert sum(INTENT_WEIGHT.values()) == pytest.approx(1)
    assert set(HOME_LOGIT) == set(homes)
