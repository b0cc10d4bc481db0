"""Generated histories shared by the history tests (deterministic, so sharing is safe)."""

from __future__ import annotations

import pytest

from history import History, generate_history

# Big enough for a model to learn from and a holdout AUC to be stable; a fraction of a second.
LEARN_PERSONS, LEARN_ZIPCODES = 5_000, 3_000


@pytest.fixture(scope="session")
def learn_history() -> History:
    return generate_history(persons=LEARN_PERSONS, zipcodes=LEARN_ZIPCODES)


@pytest.fixture(scope="session")
def tiny_history() -> History:
    return generate_history(persons=300, zipcodes=200, seed=7)
