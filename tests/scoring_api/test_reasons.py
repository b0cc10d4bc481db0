"""Reasons are faithful to the model and the model is monotone where credit logic says so:
a model trained on the session stack's history, applicants drawn from its frame."""

from __future__ import annotations

import random
from typing import Any

import pytest

from core.model.compiled import probability
from scoring_api.service.model import TOP_REASONS, ServedModel
from training.train import model_rows

pytestmark = pytest.mark.integration

APPLICANTS = 200


@pytest.fixture(scope="module")
def model(trained_stack: Any) -> ServedModel:
    return ServedModel.load(trained_stack.model_dir)


@pytest.fixture(scope="module")
def applicants(trained_stack: Any, model: ServedModel) -> list[list[Any]]:
    """200 random rows of the training frame, some of their numbers changed at random."""
    rng = random.Random(11)
    rows = model_rows(trained_stack.training.frame, model.columns)
    picked = [list(row) for row in rng.sample(rows, APPLICANTS)]
    for row in picked:
        for i, column in enumerate(model.columns.all):
            if column.kind == "int64" and row[i] is not None and rng.random() < 0.3:
                row[i] = int(row[i] * rng.choice([0, 0.5, 2, 3]) + rng.randrange(3))
    return picked


def test_contributions_add_up_to_the_margin(model: ServedModel, applicants: list[Any]) -> None:
    compiled = model.compiled
    for row in applicants:
        margin, contributions = compiled.explain(row)
        assert len(contributions) == len(model.columns.names)
        assert abs(compiled.base_margin + sum(contributions) - margin) <= 1e-9
        explained = model.explain(row)
        assert explained.p_default == probability(margin) == model.p_default(row)
        reasons = explained.reasons
        assert len(reasons) <= TOP_REASONS and all(r.contribution > 0 for r in reasons)
        assert [r.contribution for r in reasons] == sorted(
            (c for c in contributions if c > 0), reverse=True
        )[:TOP_REASONS]
        for reason in reasons:
            i = model.columns.names.index(reason.feature)
            assert reason.value == row[i] and reason.phrase


def test_the_explained_probability_is_scikit_learns(model: ServedModel) -> None:
    reference = model.artifact.reference  # predict_proba of holdout rows, saved by train
    assert len(reference.rows) >= 50
    for row, expected in zip(reference.rows, reference.p_default, strict=True):
        assert abs(model.explain(row).p_default - expected) <= 1e-9


def test_more_of_a_risk_never_lowers_the_probability_of_default(
    model: ServedModel, applicants: list[Any]
) -> None:
    risky = [i for i, c in enumerate(model.columns.all) if c.risk == 1]
    names = {model.columns.all[i].name for i in risky}
    assert {"missed_payments_6m", "bankruptcies", "hard_pulls", "credit_card_due"} <= names
    rng = random.Random(12)
    checked = 0
    for row in applicants:
        for i in risky:
            if row[i] is None:
                continue
            before = model.p_default(row)
            for more in (1, 2, 5, rng.randrange(1, 50_000)):
                higher = list(row)
                higher[i] = row[i] + more
                assert model.p_default(higher) >= before, (model.columns.all[i].name, more)
                checked += 1
    assert checked >= APPLICANTS * len(risky)  # most rows have a credit report


def test_reasons_name_values_in_words_from_the_contract(model: ServedModel) -> None:
    by_name = {c.name: c for c in model.columns.all}
    assert (
        by_name["missed_payments_6m"].reason_phrase(6) == "6 missed payments in the last 6 months"
    )
    assert by_name["credit_card_due"].reason_phrase(8640) == "8,640 USD due on credit cards"
    assert by_name["loan_int_rate"].reason_phrase(16.02) == "an interest rate of 16.02 %"
    assert by_name["person_emp_length"].reason_phrase(None) == "no person emp length on record"
