"""core.validation: msgspec types of contract columns, and problems worded without the value."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from core.contract import Column
from core.validation import INT64_RANGE, field_problem, model_json_schema, showable_name, value_type

SECRET = "19630621_4278"

ENUM = Column("e", "string", ("RENT", "OWN"))


@pytest.mark.parametrize(
    ("type_", "value", "code", "message"),
    [
        (value_type(Column("n", "int64")), "12", "int_type", "must be an integer, got str"),
        (value_type(Column("n", "int64")), 1.5, "int_type", "must be an integer, got float"),
        (value_type(Column("n", "int64")), [1], "int_type", "must be an integer, got array"),
        (value_type(Column("n", "int64")), 2**63, "less_than_equal", "outside the int64 range"),
        (value_type(Column("n", "int64"), gt=0), 0, "greater_than", "must be greater than 0"),
        (value_type(Column("n", "int64"), lt=5), 5, "less_than", "must be less than 5"),
        (value_type(Column("f", "float64")), float("inf"), "finite_number", "finite number"),
        (value_type(Column("f", "float64")), float("nan"), "finite_number", "finite number"),
        (value_type(Column("f", "float64"), ge=0), -0.5, "greater_than_equal", "at least 0"),
        (value_type(Column("f", "float64"), le=9) | None, True, "float_type", "number or null"),
        (value_type(Column("s", "string")), {"a": 1}, "string_type", "string, got object"),
        (value_type(ENUM), "CASTLE", "literal_error", "must be one of RENT, OWN"),
        (value_type(ENUM), 7, "literal_error", "must be one of RENT, OWN, got int"),
    ],
)
def test_problems_are_worded_without_the_value(
    type_: Any, value: object, code: str, message: str
) -> None:
    problem = field_problem("x", type_, value)
    assert problem is not None
    assert (problem.field, problem.code) == ("x", code)
    assert message in problem.message
    assert "CASTLE" not in problem.message and "12" not in problem.message


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        (value_type(Column("n", "int64")), INT64_RANGE[0]),
        (value_type(Column("f", "float64")), 3),
        (value_type(Column("f", "float64"), le=9) | None, None),
        (value_type(ENUM), "OWN"),
    ],
)
def test_valid_values_have_no_problem(type_: Any, value: object) -> None:
    assert field_problem("x", type_, value) is None


def test_names_that_look_like_data_are_not_showable() -> None:
    assert showable_name("colour") and showable_name("loan_amount")
    for name in (SECRET, "x19630621", "76104", "a b", "é", "x" * 65):
        assert not showable_name(name)


def test_a_schema_keeps_the_definitions_order_of_enum_values() -> None:
    model = msgspec.defstruct(
        "M", [("e", value_type(ENUM)), ("f", value_type(Column("f", "float64")) | None, None)]
    )
    schema = model_json_schema(model)
    assert schema["properties"]["e"] == {"type": "string", "enum": ["RENT", "OWN"]}
    assert schema["required"] == ["e"]
