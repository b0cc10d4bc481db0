"""`generate_history`: a deterministic, realistic synthetic history in the tutorial's shape."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from core.history import History
from history.synth_base import MS_PER_YEAR, Window
from history.synth_credit import draw_credit_profiles, synth_credit_history
from history.synth_loans import synth_loans
from history.synth_persons import synth_persons
from history.synth_zipcodes import ZIP_HIGH, ZIP_LOW, synth_zipcodes
from history.validate import validate_history

log = logging.getLogger(__name__)


def default_end() -> datetime:
    """Midnight UTC today: the history reaches up to now, so its latest values are fresh
    enough for the views' TTLs when served; pass `end` explicitly to reproduce a past run."""
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


def generate_history(
    persons: int = 30_000,
    zipcodes: int = 20_000,
    loans: int | None = None,
    seed: int = 42,
    end: datetime | None = None,
    years: float = 2,
) -> History:
    """Zipcode snapshots, credit reports and loan applications over the `years` before `end`.

    `loans` defaults to one per person. The same arguments always give identical tables.
    """
    loans = persons if loans is None else loans
    end = default_end() if end is None else end
    _check_arguments(persons, zipcodes, loans, end, years)
    started = time.perf_counter()
    end_ms = pd.Timestamp(end).value // 1_000_000
    window = Window(end_ms - int(years * MS_PER_YEAR), end_ms)
    # One independent stream per table: changing the loan count leaves the zipcodes alone.
    zip_rng, person_rng, credit_rng, loan_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    zipcode_draw = synth_zipcodes(zip_rng, zipcodes, window)
    person_draw = synth_persons(person_rng, persons, zipcode_draw, window)
    profile = draw_credit_profiles(credit_rng, person_draw, window)
    credit = synth_credit_history(credit_rng, person_draw, profile, window)
    loan_frame = synth_loans(loan_rng, loans, person_draw, profile, credit, zipcode_draw, window)
    history = validate_history(History(zipcode_draw.frame, credit.frame, loan_frame))
    log.info(
        "generated history (seed %d): %d zipcode rows, %d credit reports, %d loans in %.2f s",
        seed,
        len(history.zipcodes),
        len(history.credit_history),
        len(history.loans),
        time.perf_counter() - started,
    )
    return history


def _check_arguments(persons: int, zipcodes: int, loans: int, end: datetime, years: float) -> None:
    if persons < 1 or loans < 1:
        raise ValueError(f"persons and loans must be at least 1, got {persons=}, {loans=}")
    if not 1 <= zipcodes <= ZIP_HIGH - ZIP_LOW + 1:
        raise ValueError(f"zipcodes must be between 1 and {ZIP_HIGH - ZIP_LOW + 1}, got {zipcodes}")
    if end.tzinfo is None:
        raise ValueError(f"end must be timezone-aware (e.g. tzinfo=UTC), got {end!r}")
    if years <= 0:
        raise ValueError(f"years must be positive, got {years}")
