"""Synthetic persons: identity, home zipcode, income, home ownership and a latent risk."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from history.synth_base import (
    MS_PER_DAY,
    MS_PER_YEAR,
    Floats,
    Ints,
    Objects,
    Window,
)
from history.synth_zipcodes import TUTORIAL_ZIPCODE, ZipcodeDraw

AGE_MIN, AGE_MAX = 20, 75  # whole years at the end of the window
# Its values are the contract's (the "enum" tag of the field); `_home_ownership` names the
# ones it models, and tests/history checks that they are exactly the contract's.
HOME_OWNERSHIP_FIELD = "person_home_ownership"
# Person 0 is the tutorial's example applicant (dob_ssn 19630621_4278, zipcode 76104), so the
# loan request the docs show is answerable on synthetic data too.
TUTORIAL_DOB_MS = int(pd.Timestamp("1963-06-21", tz="UTC").value // 1_000_000)
TUTORIAL_SSN4 = 4278


@dataclass(frozen=True)
class Persons:
    """Who may apply for a loan; arrays indexed by person."""

    dob_ms: Ints
    dob_ssn: Objects
    zipcode: Ints
    income_end: Floats  # yearly income in USD at the end of the window
    risk: Floats  # latent propensity to default, about standard normal; higher is riskier
    home_ownership: Objects
    emp_years_end: Floats  # years employed at the end of the window

    def __len__(self) -> int:
        return len(self.dob_ms)

    def income_at(self, person: Ints, time_ms: Ints, window: Window) -> Floats:
        """Yearly income at a time: incomes grow about 3% a year."""
        return self.income_end[person] * np.exp(-0.03 * window.years_before_end(time_ms))


def synth_persons(
    rng: np.random.Generator, count: int, zipcodes: ZipcodeDraw, window: Window
) -> Persons:
    """Persons living where people live, poorer areas carrying more risk."""
    home = rng.choice(
        len(zipcodes.codes), size=count, p=zipcodes.population / zipcodes.population.sum()
    )
    log_wage = np.log(zipcodes.average_wage[home])
    wealth = (log_wage - log_wage.mean()) / max(float(log_wage.std()), 1e-9)
    risk = 0.9 * rng.standard_normal(count) - 0.45 * wealth

    # Borrowers skew young, as in the tutorial's loan table.
    age_end = np.clip(AGE_MIN + rng.gamma(1.8, 7.0, count), AGE_MIN + 0.01, AGE_MAX + 0.99)
    tutorial_home = np.flatnonzero(zipcodes.codes == TUTORIAL_ZIPCODE)
    if len(tutorial_home):
        home[0] = tutorial_home[0]
        age_end[0] = (window.end_ms - TUTORIAL_DOB_MS) / MS_PER_YEAR
    dob_ms = (
        (window.end_ms - np.round(age_end * MS_PER_YEAR).astype(np.int64))
        // MS_PER_DAY
        * MS_PER_DAY
    )
    career = 0.55 + 0.45 * np.minimum(1.0, (age_end - AGE_MIN) / 25)
    income = (
        zipcodes.average_wage[home] * career * rng.lognormal(0.4, 0.5, count) * np.exp(-0.15 * risk)
    )
    return Persons(
        dob_ms=dob_ms,
        dob_ssn=_unique_dob_ssn(rng, dob_ms),
        zipcode=zipcodes.codes[home],
        income_end=np.clip(income, 8_000, 2_000_000),
        risk=risk,
        home_ownership=_home_ownership(rng, age_end, income, risk),
        emp_years_end=np.minimum(age_end - 18, rng.gamma(1.6, 3.5, count)),
    )


def _unique_dob_ssn(rng: np.random.Generator, dob_ms: Ints) -> Objects:
    days = np.datetime_as_string((dob_ms // MS_PER_DAY).astype("datetime64[D]"))
    dob = np.char.replace(days, "-", "")
    ssn4 = rng.integers(1, 10_000, len(dob_ms))  # 0000 is never issued
    if dob_ms[0] == TUTORIAL_DOB_MS:
        ssn4[0] = TUTORIAL_SSN4  # kept by the loop below: only later repeats are redrawn
    # Same birthday and last four digits happens (birthday problem): redraw the repeats.
    while True:
        keys = pd.Series(
            dob.astype(object) + "_" + np.char.zfill(ssn4.astype(str), 4).astype(object)
        )
        repeated = keys.duplicated().to_numpy()
        if not repeated.any():
            unique: Objects = keys.to_numpy(dtype=object)
            return unique
        ssn4[repeated] = rng.integers(1, 10_000, int(repeated.sum()))


def _home_ownership(rng: np.random.Generator, age: Floats, income: Floats, risk: Floats) -> Objects:
    mortgage = 1 / (
        1 + np.exp(-(-1.6 + 0.07 * (age - 20) + 1.0 * np.log(income / 50_000) - 0.3 * risk))
    )
    own = 0.05 + 0.10 * np.clip((age - 30) / 40, 0, 1)
    other = 0.004
    u = rng.random(len(age))
    # One uniform draw per person against cumulative shares: other, own, mortgage, rent.
    drawn: Objects = np.full(len(age), "RENT", dtype=object)
    drawn[u < other + own + (1 - other - own) * mortgage] = "MORTGAGE"
    drawn[u < other + own] = "OWN"
    drawn[u < other] = "OTHER"
    return drawn


def whole_years(born_ms: Ints, at_ms: Ints) -> Ints:
    """Age in completed years on a date, by the calendar (birthdays, leap years)."""
    born = pd.DatetimeIndex(pd.to_datetime(born_ms, unit="ms"))
    at = pd.DatetimeIndex(pd.to_datetime(at_ms, unit="ms"))
    before_birthday = (at.month < born.month) | ((at.month == born.month) & (at.day < born.day))
    return np.asarray(at.year - born.year - before_birthday, dtype=np.int64)
