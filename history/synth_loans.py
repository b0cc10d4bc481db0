"""Synthetic loan applications and their outcome, drawn from a logistic model of default."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.contract import (
    CREDIT_HISTORY,
    EVENT_TIMESTAMP,
    LABEL,
    LOAN_ID,
    LOAN_REQUEST_ENUMS,
    ZIPCODE_FEATURES,
)
from core.history_schema import LOAN_TABLE
from history.synth_base import (
    MS_PER_DAY,
    Floats,
    Ints,
    Objects,
    TimeKeys,
    Window,
    frame_for,
    sigmoid,
    uniform_ms,
)
from history.synth_credit import CreditDraw, CreditProfile, credit_state
from history.synth_persons import HOME_OWNERSHIP_FIELD, Persons, whole_years
from history.synth_zipcodes import NATIONAL_AVERAGE_WAGE, ZipcodeDraw

LOAN_INTENT_FIELD = "loan_intent"
LOAN_INTENTS = LOAN_REQUEST_ENUMS[LOAN_INTENT_FIELD]  # from the contract, in its order
# The generator's parameters per category; a test checks their keys are the contract's values.
# Share of applications per intent (drawn in the contract's order of LOAN_INTENTS).
INTENT_WEIGHT = {
    "PERSONAL": 0.17,
    "EDUCATION": 0.20,
    "MEDICAL": 0.19,
    "VENTURE": 0.17,
    "HOMEIMPROVEMENT": 0.11,
    "DEBTCONSOLIDATION": 0.16,
}
# Log-odds added to the default model per category (medical and debt consolidation signal stress).
INTENT_LOGIT = {
    "PERSONAL": 0.0,
    "EDUCATION": -0.2,
    "MEDICAL": 0.3,
    "VENTURE": -0.3,
    "HOMEIMPROVEMENT": 0.2,
    "DEBTCONSOLIDATION": 0.3,
}
HOME_LOGIT = {"RENT": 0.9, "OWN": -0.7, "MORTGAGE": 0.0, "OTHER": 0.6}
BEFORE_FIRST_REPORT = 0.05  # applications from persons the bureau has no report on yet
TARGET_DEFAULT_RATE = 0.22
LOAN_ID_START = 10_001
LOAN_AMOUNT_MIN, LOAN_AMOUNT_MAX = 500, 35_000
RATE_MIN, RATE_MAX = 5.42, 23.22


def synth_loans(
    rng: np.random.Generator,
    count: int,
    persons: Persons,
    profile: CreditProfile,
    credit: CreditDraw,
    zipcodes: ZipcodeDraw,
    window: Window,
) -> pd.DataFrame:
    """`count` applications; the outcome depends on the application, the report and the area."""
    person = _borrowers(rng, count, len(persons))
    time_ms = _application_times(rng, person, credit, window)
    report = _report_in_force(rng, profile, credit, person, time_ms, window)
    wage = _average_wage_in_force(zipcodes.frame, persons.zipcode[person], time_ms, window)

    income = np.round(persons.income_at(person, time_ms, window) / 100) * 100
    amount = np.clip(
        income * rng.lognormal(np.log(0.14), 0.6, count), LOAN_AMOUNT_MIN, LOAN_AMOUNT_MAX
    )
    amount = np.round(amount / 25) * 25
    intent: Objects = rng.choice(
        np.asarray(LOAN_INTENTS, dtype=object),
        size=count,
        p=[INTENT_WEIGHT[v] for v in LOAN_INTENTS],
    )
    # The lender prices what it sees (the report) and, through its own scoring, part of the
    # latent risk; the rate therefore carries signal the report alone does not.
    bureau = (
        0.5 * report["missed_payments_1y"]
        + 0.2 * report["missed_payments_2y"]
        + 1.5 * report["bankruptcies"]
        + 0.1 * report["hard_pulls"]
    )
    bureau_z = (bureau - bureau.mean()) / max(float(bureau.std()), 1e-9)
    grade = 0.65 * persons.risk[person] + 0.35 * bureau_z + rng.normal(0, 0.45, count)
    rate = np.round(np.clip(11.0 + 2.8 * grade, RATE_MIN, RATE_MAX), 2)

    values: dict[str, object] = {
        LOAN_ID: _ids_in_time_order(time_ms),
        CREDIT_HISTORY.entity.name: persons.dob_ssn[person],
        ZIPCODE_FEATURES.entity.name: persons.zipcode[person],
        "person_age": whole_years(persons.dob_ms[person], time_ms),
        "person_income": income,
        HOME_OWNERSHIP_FIELD: persons.home_ownership[person],
        "person_emp_length": np.floor(
            np.maximum(0.0, persons.emp_years_end[person] - window.years_before_end(time_ms))
        ),
        LOAN_INTENT_FIELD: intent,
        "loan_amnt": amount,
        "loan_int_rate": rate,
    }
    logit = _default_logit(values, report, wage, persons.risk[person])
    values[LABEL] = rng.random(count) < sigmoid(logit + _intercept(logit, TARGET_DEFAULT_RATE))
    # An application is recorded as it is made.
    return frame_for(LOAN_TABLE, values, time_ms, time_ms)


def _default_logit(
    values: dict[str, object], report: dict[str, Ints], wage: Floats, risk: Floats
) -> Floats:
    """Log-odds of default before the intercept; each term is a lending rule of thumb."""
    income = np.asarray(values["person_income"], dtype=np.float64)
    burden = np.asarray(values["loan_amnt"], dtype=np.float64) / income
    dues = report["credit_card_due"] + report["student_loan_due"] + report["vehicle_loan_due"]
    age = np.asarray(values["person_age"])
    home = pd.Series(values[HOME_OWNERSHIP_FIELD]).map(HOME_LOGIT).to_numpy(np.float64)
    intent = pd.Series(values[LOAN_INTENT_FIELD]).map(INTENT_LOGIT).to_numpy(np.float64)
    logit: Floats = (
        6.0 * burden
        + 5.0 * np.maximum(burden - 0.30, 0)  # repayments above ~30% of income rarely hold
        + 0.25 * (np.asarray(values["loan_int_rate"]) - 11.0)
        + home
        + intent
        - 0.06 * np.minimum(np.asarray(values["person_emp_length"]), 15)
        + 0.35 * (age < 23)
        + 0.25 * (age >= 65)
        + 0.55 * np.minimum(report["missed_payments_1y"], 6)
        + 0.35 * np.minimum(report["missed_payments_6m"], 4)
        + 0.12 * np.minimum(report["missed_payments_2y"], 10)
        + 1.6 * np.minimum(report["bankruptcies"], 2)
        + 0.15 * np.minimum(report["hard_pulls"], 8)
        + 1.0 * np.minimum(dues / income, 1.5)
        - 0.9 * np.log(wage / NATIONAL_AVERAGE_WAGE)
        + 0.4 * risk  # what no feature shows
    )
    return logit


def _intercept(logit: Floats, rate: float) -> float:
    """The intercept that makes the mean default probability `rate` (bisection)."""
    low, high = -30.0, 30.0
    for _ in range(60):
        mid = (low + high) / 2
        if sigmoid(logit + mid).mean() < rate:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _borrowers(rng: np.random.Generator, count: int, persons: int) -> Ints:
    """Distinct persons while they last; beyond that some persons apply again."""
    if count <= persons:
        return rng.choice(persons, size=count, replace=False)
    return np.concatenate([rng.permutation(persons), rng.integers(0, persons, count - persons)])


def _application_times(
    rng: np.random.Generator, person: Ints, credit: CreditDraw, window: Window
) -> Ints:
    """Mostly while the person has reports; some shortly before the first one."""
    count = len(person)
    lead = window.span_ms // 8
    first, last = credit.first_ms[person], credit.last_ms[person]
    after = uniform_ms(rng, first, np.minimum(last + lead, window.end_ms), count)
    earliest = window.start_ms + 2 * MS_PER_DAY  # after the first zipcode snapshot
    before = uniform_ms(rng, np.maximum(earliest, first - lead), first, count)
    return np.where(rng.random(count) < BEFORE_FIRST_REPORT, before, after)


def _report_in_force(
    rng: np.random.Generator,
    profile: CreditProfile,
    credit: CreditDraw,
    person: Ints,
    time_ms: Ints,
    window: Window,
) -> dict[str, Ints]:
    """The latest report at each application; the true, unreported state when there is none."""
    truth = credit_state(rng, profile, person, time_ms, window)
    row = credit.reports.latest_at(person, time_ms)
    in_force = row >= 0
    return {
        name: np.where(in_force, credit.frame[name].to_numpy()[np.maximum(row, 0)], truth[name])
        for name in CREDIT_HISTORY.feature_names
    }


def _average_wage_in_force(
    frame: pd.DataFrame, zipcode: Ints, time_ms: Ints, window: Window
) -> Floats:
    """Wage per tax return of the zipcode snapshot in force at each application."""
    snapshots = TimeKeys(
        frame[ZIPCODE_FEATURES.entity.name].to_numpy(np.int64),
        frame[EVENT_TIMESTAMP].array.asi8 // 1_000_000,
        window.start_ms - MS_PER_DAY,
        window.span_ms + 2 * MS_PER_DAY,
    )
    row = snapshots.latest_at(zipcode, time_ms)
    if (row < 0).any():
        raise RuntimeError("bug: an application predates its zipcode's first snapshot")
    wages = frame["total_wages"].to_numpy(np.float64)[row]
    average: Floats = wages / np.maximum(frame["tax_returns_filed"].to_numpy(np.float64)[row], 1.0)
    return average


def _ids_in_time_order(time_ms: Ints) -> Ints:
    ids = np.empty(len(time_ms), dtype=np.int64)
    ids[np.argsort(time_ms, kind="stable")] = LOAN_ID_START + np.arange(len(time_ms))
    return ids
