"""Synthetic credit reports: dues and payment events that evolve over time per person."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.contract import CREDIT_HISTORY, EVENT_TIMESTAMP
from core.history_schema import CREDIT_HISTORY_TABLE
from history.synth_base import (
    MS_PER_DAY,
    MS_PER_MONTH,
    MS_PER_YEAR,
    Floats,
    Ints,
    TimeKeys,
    Window,
    frame_for,
    sigmoid,
    uniform_ms,
)
from history.synth_persons import Persons

NEVER_MS = np.iinfo(np.int64).max // 2
SNAPSHOTS_MIN, SNAPSHOTS_MAX = 2, 6  # credit reports per person


@dataclass(frozen=True)
class CreditProfile:
    """What drives a person's reports: event processes and balances at the window start."""

    missed: TimeKeys  # missed-payment events by person
    bankruptcy_ms: tuple[Ints, Ints]  # first and second bankruptcy; NEVER_MS if none
    hard_pull_mean: Floats
    card: Floats
    card_drift: Floats  # yearly log growth of the card balance; risky persons pile up debt
    mortgage: Floats
    student: Floats
    vehicle: Floats


def draw_credit_profiles(
    rng: np.random.Generator, persons: Persons, window: Window
) -> CreditProfile:
    """Missed payments (steady rate plus hardship spells), bankruptcies and balances."""
    n, risk = len(persons), persons.risk
    # Counts look back two years from any report or loan, none earlier than the window start.
    origin = window.start_ms - 2 * MS_PER_YEAR - MS_PER_DAY
    horizon_months = (window.end_ms - origin) / MS_PER_MONTH

    rate = 0.02 * np.exp(1.2 * np.minimum(risk, 2.5))  # missed payments per month
    base_count = rng.poisson(rate * horizon_months)
    base_owner = np.repeat(np.arange(n), base_count)
    base_time = uniform_ms(rng, origin, window.end_ms, len(base_owner))
    # A hardship spell (job loss, illness) brings a burst of missed payments.
    spell = rng.random(n) < sigmoid(-1.8 + 0.8 * risk)
    spell_start = uniform_ms(rng, window.start_ms - MS_PER_YEAR, window.end_ms, n)
    spell_months = rng.uniform(3, 9, n)
    spell_count = np.where(spell, rng.poisson(0.45 * spell_months), 0)
    spell_owner = np.repeat(np.arange(n), spell_count)
    spell_time = uniform_ms(
        rng,
        spell_start[spell_owner],
        spell_start[spell_owner] + (spell_months[spell_owner] * MS_PER_MONTH).astype(np.int64),
        len(spell_owner),
    )
    missed = TimeKeys(
        np.concatenate([base_owner, spell_owner]),
        np.concatenate([base_time, spell_time]),
        origin,
        window.end_ms + 2 * MS_PER_YEAR - origin,
    )

    bankrupt = rng.random(n) < sigmoid(-4.2 + 1.2 * risk)
    first = np.where(
        bankrupt, uniform_ms(rng, window.start_ms - 9 * MS_PER_YEAR, window.end_ms, n), NEVER_MS
    )
    again = bankrupt & (rng.random(n) < 0.12)
    second = np.where(
        again, uniform_ms(rng, np.minimum(first, window.end_ms), window.end_ms, n), NEVER_MS
    )

    income = persons.income_at(np.arange(n), np.full(n, window.start_ms), window)
    age = (window.end_ms - persons.dob_ms) / MS_PER_YEAR
    has_student = rng.random(n) < sigmoid(0.8 - 0.15 * (age - 25))
    return CreditProfile(
        missed=missed,
        bankruptcy_ms=(first, second),
        hard_pull_mean=0.9 * np.exp(0.4 * risk),
        card=np.where(
            rng.random(n) < 0.92, income * 0.05 * np.exp(0.45 * risk + rng.normal(0, 0.7, n)), 0
        ),
        card_drift=rng.normal(0.05 + 0.10 * risk, 0.15),
        mortgage=np.where(
            persons.home_ownership == "MORTGAGE", income * rng.lognormal(np.log(3.0), 0.35, n), 0
        ),
        student=np.where(has_student, rng.lognormal(np.log(24_000), 0.6, n), 0),
        vehicle=np.where(rng.random(n) < 0.38, rng.lognormal(np.log(15_000), 0.5, n), 0),
    )


def credit_state(
    rng: np.random.Generator, profile: CreditProfile, person: Ints, time_ms: Ints, window: Window
) -> dict[str, Ints]:
    """The credit report of each (person, time): one generation rule per feature."""
    size = len(person)
    years = (time_ms - window.start_ms) / MS_PER_YEAR
    first, second = profile.bankruptcy_ms

    def missed(months: int) -> Ints:
        return profile.missed.count_within(person, time_ms, months * MS_PER_MONTH)

    def usd(values: Floats) -> Ints:
        return np.round(np.maximum(values, 0)).astype(np.int64)

    card = (
        profile.card[person]
        * np.exp(profile.card_drift[person] * years)
        * rng.lognormal(0, 0.12, size)
    )
    return {
        "credit_card_due": usd(card),
        "mortgage_due": usd(profile.mortgage[person] * (1 - 0.035 * years)),
        "student_loan_due": usd(profile.student[person] * 0.91**years),
        "vehicle_loan_due": usd(profile.vehicle[person] * (1 - 0.18 * years)),
        "hard_pulls": rng.poisson(profile.hard_pull_mean[person]).astype(np.int64),
        "missed_payments_2y": missed(24),
        "missed_payments_1y": missed(12),
        "missed_payments_6m": missed(6),
        "bankruptcies": ((first[person] <= time_ms).astype(np.int64) + (second[person] <= time_ms)),
    }


@dataclass(frozen=True)
class CreditDraw:
    """The credit-history table and, per person, the times of the first and last report."""

    frame: pd.DataFrame
    first_ms: Ints
    last_ms: Ints
    reports: TimeKeys  # over the frame's rows, by person index


def synth_credit_history(
    rng: np.random.Generator, persons: Persons, profile: CreditProfile, window: Window
) -> CreditDraw:
    """2-6 reports per person, every 1-6 months (for a two-year window), from a random start."""
    n, span = len(persons), window.span_ms
    count = rng.integers(SNAPSHOTS_MIN, SNAPSHOTS_MAX + 1, n)
    first = uniform_ms(rng, window.start_ms + span // 25, window.start_ms + span // 2, n)
    gaps = uniform_ms(rng, span // 24, span // 4, n * (SNAPSHOTS_MAX - 1)).reshape(n, -1)
    times = first[:, None] + np.concatenate(
        [np.zeros((n, 1), np.int64), gaps.cumsum(axis=1)], axis=1
    )
    # first + one gap stays inside the window, so every person keeps at least two reports.
    keep = (np.arange(SNAPSHOTS_MAX)[None, :] < count[:, None]) & (
        times < window.end_ms - MS_PER_DAY
    )
    person, slot = np.nonzero(keep)
    event_ms = times[person, slot]
    # A report reaches the bureau's feed minutes to a day after it is drawn.
    created_ms = event_ms + uniform_ms(rng, 60_000, MS_PER_DAY, len(event_ms))
    values: dict[str, object] = {CREDIT_HISTORY.entity.name: persons.dob_ssn[person]}
    values.update(credit_state(rng, profile, person, event_ms, window))
    frame = frame_for(CREDIT_HISTORY_TABLE, values, event_ms, created_ms)
    frame_person = pd.Index(persons.dob_ssn).get_indexer(frame[CREDIT_HISTORY.entity.name])
    frame_ms = frame[EVENT_TIMESTAMP].array.asi8 // 1_000_000
    last = np.where(keep, times, np.iinfo(np.int64).min).max(axis=1)
    reports = TimeKeys(frame_person, frame_ms, window.start_ms - MS_PER_DAY, span + 2 * MS_PER_DAY)
    return CreditDraw(frame, first, last, reports)
