"""The request model is derived from the contract and enforces the API's plausibility rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.contract import ENTITY_KEYS, LOAN_REQUEST_COLUMNS, LOAN_REQUEST_ENUMS
from scoring_api.schemas import (
    EXAMPLE_REQUEST,
    REQUEST_RULES,
    LoanApplication,
    RequestInvalid,
)


def _errors(**changes: object) -> dict[str, str]:
    try:
        LoanApplication.model_validate({**EXAMPLE_REQUEST, **changes})
    except ValidationError as exc:
        return {".".join(map(str, e["loc"])): e["msg"] for e in exc.errors()}
    return {}


def test_the_fields_are_the_entity_keys_and_the_request_source() -> None:
    expected = [*ENTITY_KEYS, *(c.name for c in LOAN_REQUEST_COLUMNS)]
    assert list(LoanApplication.__struct_fields__) == expected


def test_every_request_field_is_described_and_every_number_bounded() -> None:
    # A field added to loan_application needs a description, and bounds if it is a number.
    for column in LOAN_REQUEST_COLUMNS:
        assert REQUEST_RULES[column.name]["description"], column.name
        assert column.kind == "string" or len(column.bounds) == 2, column.name


def test_enum_values_come_from_the_contract() -> None:
    assert LOAN_REQUEST_ENUMS  # the definitions tag home ownership and loan intent
    schema = LoanApplication.model_json_schema()["properties"]
    for name, values in LOAN_REQUEST_ENUMS.items():
        assert REQUEST_RULES[name]["values"] == values  # the CLI's choices
        assert schema[name]["enum"] == list(values)  # in the definitions' order
        for value in values:
            assert _errors(**{name: value}) == {}


def test_the_example_is_valid() -> None:
    assert _errors() == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("person_age", 133),  # the tutorial's own value
        ("person_age", 17),
        ("person_income", -1),
        ("person_emp_length", 123.0),
        ("loan_amnt", 0),
        ("loan_int_rate", float("inf")),
        ("person_home_ownership", "rent"),
        ("loan_intent", "HOLIDAY"),
        ("zipcode", 100_000),
        ("person_age", True),
    ],
)
def test_implausible_values_are_rejected(field: str, value: object) -> None:
    assert field in _errors(**{field: value})


def test_unknown_floats_may_be_null_or_absent() -> None:
    assert _errors(person_emp_length=None, loan_int_rate=None) == {}
    reduced = {k: v for k, v in EXAMPLE_REQUEST.items() if k != "loan_int_rate"}
    assert LoanApplication.model_validate(reduced).loan_int_rate is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("dob_ssn", ["19631321_4278", "1963062_4278", "18991231_4278", 19630621])
def test_a_bad_dob_ssn_is_rejected_without_showing_it(dob_ssn: object) -> None:
    message = _errors(dob_ssn=dob_ssn)["dob_ssn"]
    assert "4278" not in message and "1963" not in message


def test_every_problem_is_listed_without_any_submitted_value() -> None:
    bad = {
        **EXAMPLE_REQUEST,
        "dob_ssn": "19631321_4278",
        "person_age": 7,
        "person_home_ownership": "CASTLE",
        "loan_amnt": -5,
        "loan_amount": 10,
        "19630621_4278": 1,  # an unknown field whose name is data: counted, not named
    }
    with pytest.raises(RequestInvalid) as caught:
        LoanApplication.validate(bad)
    problems = {p.field: p for p in caught.value.problems}
    assert set(problems) == {
        "dob_ssn",
        "person_age",
        "person_home_ownership",
        "loan_amnt",
        "loan_amount",
        None,
    }
    assert problems["person_age"].code == "greater_than_equal"
    assert problems["loan_amount"].code == problems[None].code == "extra_forbidden"
    assert "valid date" in problems["dob_ssn"].message
    text = str(caught.value) + repr(caught.value.pydantic_error().errors())
    for value in ("19631321", "4278", "1963", "CASTLE", "-5"):
        assert value not in text


def test_pydantic_callers_get_line_errors_without_the_input() -> None:
    with pytest.raises(ValidationError) as caught:
        LoanApplication.model_validate({**EXAMPLE_REQUEST, "person_age": "old", "zipcode": True})
    errors = {e["loc"]: e for e in caught.value.errors()}
    assert set(errors) == {("person_age",), ("zipcode",)}
    assert errors[("person_age",)]["type"] == "int_type"
    assert all(e["input"] is None for e in errors.values())
    valid = LoanApplication.model_validate({**EXAMPLE_REQUEST, "person_emp_length": 12})
    assert valid.model_dump() == {**EXAMPLE_REQUEST, "person_emp_length": 12.0}


@pytest.mark.parametrize("body", [[1], "x", None])
def test_a_body_that_is_not_an_object_is_one_problem(body: object) -> None:
    with pytest.raises(RequestInvalid) as caught:
        LoanApplication.validate(body)
    assert [(p.field, p.code) for p in caught.value.problems] == [(None, "model_type")]
