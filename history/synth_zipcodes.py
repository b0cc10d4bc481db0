"""Synthetic zipcode statistics: one snapshot per zipcode and year (a yearly tax-data refresh)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.contract import ZIPCODE_FEATURES
from core.history_schema import ZIPCODE_TABLE
from history.synth_base import (
    MS_PER_DAY,
    MS_PER_YEAR,
    Floats,
    Ints,
    Objects,
    Window,
    frame_for,
    uniform_ms,
)

# Real zipcodes run from 00501 to 99950; as integers the leading zeros go, as in the tutorial.
ZIP_LOW, ZIP_HIGH = 1_001, 99_950
TUTORIAL_ZIPCODE = 76104  # Fort Worth, TX: the zipcode of the tutorial's loan request

# States by the first digit of the zipcode (the postal regions), so neighbours share a state.
STATES_BY_REGION = (
    ("CT", "MA", "ME", "NH", "NJ", "RI", "VT"),
    ("DE", "NY", "PA"),
    ("DC", "MD", "NC", "SC", "VA", "WV"),
    ("AL", "FL", "GA", "MS", "TN"),
    ("IN", "KY", "MI", "OH"),
    ("IA", "MN", "MT", "ND", "SD", "WI"),
    ("IL", "KS", "MO", "NE"),
    ("AR", "LA", "OK", "TX"),
    ("AZ", "CO", "ID", "NM", "NV", "UT", "WY"),
    ("AK", "CA", "HI", "OR", "WA"),
)
ALL_STATES = tuple(s for region in STATES_BY_REGION for s in region)

# City names are built from parts; upper case like the US zipcode database the tutorial used.
CITY_PREFIXES = (
    "SPRING",
    "OAK",
    "GREEN",
    "FAIR",
    "CLEAR",
    "RIVER",
    "MAPLE",
    "CEDAR",
    "PINE",
    "LAKE",
    "HILL",
    "STONE",
    "BROOK",
    "WEST",
    "NORTH",
    "SOUTH",
    "EAST",
    "NEW",
    "MILL",
    "ASH",
    "ELM",
    "WILLOW",
    "RED",
    "SILVER",
    "GOLD",
    "MARION",
    "FRANKLIN",
    "CLINTON",
    "MADISON",
    "GEORGE",
    "SALEM",
    "BRIDGE",
    "HAVEN",
    "WOOD",
    "ROCK",
    "SUMMIT",
    "GLEN",
    "BAY",
    "SAND",
    "WATER",
)
CITY_SUFFIXES = (
    "FIELD",
    "DALE",
    "VILLE",
    "TOWN",
    "WOOD",
    "PORT",
    "FORD",
    "BURG",
    "TON",
    " CITY",
    " SPRINGS",
    " FALLS",
    " HEIGHTS",
    " PARK",
    " CREEK",
    " VALLEY",
    "MONT",
    " HILLS",
    "VIEW",
    " JUNCTION",
)
CITIES_PER_ZIP3 = 4

# The zipcode database's location types: the preferred city name, an accepted alias, or not.
LOCATION_TYPES = ("PRIMARY", "ACCEPTABLE", "NOT ACCEPTABLE")
LOCATION_WEIGHTS = (0.80, 0.15, 0.05)

NATIONAL_AVERAGE_WAGE = 52_000.0
REFRESH_PROBABILITY = 0.9  # a few zipcodes miss a yearly refresh and keep last year's figures


@dataclass(frozen=True)
class ZipcodeDraw:
    """The zipcode table plus what persons need: codes, first-year population and wage."""

    frame: pd.DataFrame
    codes: Ints
    population: Floats
    average_wage: Floats


def synth_zipcodes(rng: np.random.Generator, count: int, window: Window) -> ZipcodeDraw:
    """Unique zipcodes, their place names and yearly statistics."""
    codes = rng.choice(np.arange(ZIP_LOW, ZIP_HIGH + 1), size=count, replace=False)
    if TUTORIAL_ZIPCODE not in codes:
        # The tutorial's example applicant lives here; keeping it makes the docs' example work.
        codes[0] = TUTORIAL_ZIPCODE
    codes = np.sort(codes)
    state_index = _state_index(codes)
    state = np.asarray(ALL_STATES, dtype=object)[state_index]
    city = _city_names(codes)
    location_type = rng.choice(
        np.asarray(LOCATION_TYPES, dtype=object), size=count, p=LOCATION_WEIGHTS
    )

    population0 = np.clip(rng.lognormal(np.log(9_000), 1.0, count), 60, 120_000)
    returns0 = population0 * rng.uniform(0.40, 0.52, count)
    # Wages vary by state and, more, by neighbourhood; total wages = returns x average wage.
    state_factor = rng.lognormal(0.0, 0.15, len(ALL_STATES))[state_index]
    wage0 = NATIONAL_AVERAGE_WAGE * state_factor * rng.lognormal(-0.06, 0.35, count)
    growth_population = rng.normal(0.005, 0.015, count)
    growth_returns = rng.normal(0.01, 0.02, count)
    growth_wage = rng.normal(0.035, 0.02, count)

    rows: list[Ints] = []
    years: list[Ints] = []
    events: list[Ints] = []
    for k in range(int(np.ceil(window.span_ms / MS_PER_YEAR))):
        event = window.start_ms + k * MS_PER_YEAR + uniform_ms(rng, 0, MS_PER_DAY, count)
        keep = (event < window.end_ms) & ((k == 0) | (rng.random(count) < REFRESH_PROBABILITY))
        rows.append(np.flatnonzero(keep))
        years.append(np.full(int(keep.sum()), k))
        events.append(event[keep])
    row, year, event_ms = np.concatenate(rows), np.concatenate(years), np.concatenate(events)
    returns = np.round(returns0[row] * (1 + year * growth_returns[row]))
    values = {
        ZIPCODE_FEATURES.entity.name: codes[row],
        "city": city[row],
        "state": state[row],
        "location_type": location_type[row],
        "tax_returns_filed": returns,
        "population": np.round(population0[row] * (1 + year * growth_population[row])),
        "total_wages": np.round(returns * wage0[row] * (1 + growth_wage[row]) ** year),
    }
    # The tax figures reach the feature store a few hours to days after their date.
    created_ms = event_ms + uniform_ms(rng, MS_PER_DAY // 24, 3 * MS_PER_DAY, len(event_ms))
    frame = frame_for(ZIPCODE_TABLE, values, event_ms, created_ms)
    return ZipcodeDraw(frame, codes, population0, wage0)


def _state_index(codes: Ints) -> Ints:
    region = codes // 10_000
    zip3 = codes // 100
    offsets = np.cumsum([0, *(len(r) for r in STATES_BY_REGION)])[:-1]
    sizes = np.asarray([len(r) for r in STATES_BY_REGION])
    # A fixed scramble of the 3-digit prefix picks the state within the region.
    index: Ints = (offsets[region] + (zip3 * 7_919) % sizes[region]).astype(np.int64)
    return index


def _city_names(codes: Ints) -> Objects:
    city_id = (codes // 100) * CITIES_PER_ZIP3 + (codes % 100) * CITIES_PER_ZIP3 // 100
    prefix = np.asarray(CITY_PREFIXES)[(city_id * 2_654_435_761) % len(CITY_PREFIXES)]
    suffix = np.asarray(CITY_SUFFIXES)[(city_id * 40_503 + 17) % len(CITY_SUFFIXES)]
    return np.char.add(prefix, suffix).astype(object)
