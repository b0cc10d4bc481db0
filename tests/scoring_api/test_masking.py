"""A malformed dob_ssn is never echoed, not even in part or by its length: 1,000 variants
against both endpoints that take one, through the app with the real stack."""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core.contract import ENTITY_KEYS, MASK

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

VARIANTS = 1_000


@pytest.fixture(scope="module")
async def client(trained_stack: Any, api_client: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(trained_stack.settings, trained_stack.model_dir) as test_client:
        yield test_client


def _malformed(rng: random.Random) -> str:
    """A dob_ssn-like string the contract refuses: bad dates, wrong lengths, odd characters."""
    key = ENTITY_KEYS["dob_ssn"]
    while True:
        kind = rng.randrange(5)
        if kind == 0:  # right shape, impossible date
            month, day = rng.choice([(2, 30), (13, 1), (0, 5), (4, 31), (6, 0)])
            text = f"{rng.randrange(1900, 2010)}{month:02d}{day:02d}_{rng.randrange(10_000):04d}"
        elif kind == 1:  # too short or too long
            text = "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 40)))
        elif kind == 2:  # a valid one with characters cut or added
            text = "19630621_4278"[: rng.randrange(13)] + "7" * rng.randrange(0, 30)
        elif kind == 3:  # before 1900
            text = f"18{rng.randrange(10, 99)}0101_{rng.randrange(10_000):04d}"
        else:  # any printable characters, long ones too
            size = rng.choice([1, 5, 13, 14, 200, 3_000])
            text = "".join(chr(rng.randrange(33, 127)) for _ in range(size))
        try:
            key.parse(text)
        except ValueError:
            return text


def _digit_runs(text: str) -> set[str]:
    return set(re.findall(r"[0-9]{4,}", text))


async def test_no_answer_shows_a_malformed_key_or_its_length(
    client: httpx.AsyncClient, trained_stack: Any
) -> None:
    rng = random.Random(20_261_201)
    application = trained_stack.latest_loan_application()
    bodies: dict[str, set[str]] = {"/v1/loan-decisions": set(), "/live/entities": set()}
    for _ in range(VARIANTS):
        bad = _malformed(rng)
        requests = {
            "/v1/loan-decisions": {**application, "dob_ssn": bad},
            "/live/entities": {"entity": "dob_ssn", "key": bad},
        }
        for path, body in requests.items():
            response = await client.post(path, json=body)
            assert response.status_code == 422, (path, response.text)
            error = response.json()["error"]
            text = response.text.replace(error["request_id"], "")
            if len(bad) >= 4:
                assert bad not in text, path
            leaked = {run for run in _digit_runs(bad) if run in text}
            assert not leaked, (path, leaked, text)
            bodies[path].add(text)
    # A handful of fixed answers (one per kind of problem): none can carry the key's length.
    for path, texts in bodies.items():
        assert 1 <= len(texts) <= 6, (path, sorted(texts))
    assert ENTITY_KEYS["dob_ssn"].mask("19630621_4278") == MASK == ENTITY_KEYS["dob_ssn"].mask("1")
