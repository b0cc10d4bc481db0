"""What core.contract derives from the definitions, and the consistency the derivations rely on.

These were import-time checks; as tests they fail the build, not every process that imports.
"""

from __future__ import annotations

import pytest

from core import contract
from core.contract import (
    ENTITY_KEYS,
    LABEL,
    LOAN_COLUMNS,
    LOAN_ID,
    LOAN_REQUEST_COLUMNS,
    LOAN_REQUEST_ENUMS,
    VIEWS,
    Column,
)
from core.event_model import ENVELOPE_FIELDS
from core.history_schema import LOAN_TABLE
from core.model import columns
from feature_repo import definitions as defs

SECRET = "19630621_4278"


def test_the_loan_table_is_id_keys_application_label() -> None:
    tags = defs.loan_application.tags
    assert tags[contract.ID_COLUMN_TAG] == LOAN_ID
    assert tags[contract.LABEL_COLUMN_TAG] == LABEL
    assert LOAN_COLUMNS[0] == Column(LOAN_ID, "int64")
    assert LOAN_COLUMNS[-1] == Column(LABEL, "int64")
    assert LOAN_COLUMNS[1:-1] == (
        contract.CREDIT_HISTORY.entity,
        contract.ZIPCODE_FEATURES.entity,
        *LOAN_REQUEST_COLUMNS,
    )
    assert LOAN_TABLE.key == (LOAN_ID,)
    assert (columns.LOAN_ID, columns.LABEL) == (LOAN_ID, LABEL)


def test_loan_columns_are_unique() -> None:
    names = [c.name for c in LOAN_COLUMNS]
    assert len(set(names)) == len(names)


def test_enum_values_are_read_from_the_field_tags() -> None:
    tagged = {
        f.name: f.tags[contract.ENUM_TAG]
        for f in defs.loan_application.schema
        if contract.ENUM_TAG in f.tags
    }
    assert set(LOAN_REQUEST_ENUMS) == set(tagged) == {"person_home_ownership", "loan_intent"}
    for name, values in LOAN_REQUEST_ENUMS.items():
        assert ",".join(values) == tagged[name]
        assert len(set(values)) == len(values) and all(values)
        column = next(c for c in LOAN_REQUEST_COLUMNS if c.name == name)
        assert column.kind == "string" and column.values == values


def test_no_two_views_or_entities_share_a_name() -> None:
    # Producers' `--feature` flags, the training frame's bare feature names and the event
    # envelope all assume it.
    names = [*ENVELOPE_FIELDS, *ENTITY_KEYS, *(c.name for v in VIEWS for c in v.features)]
    assert len(set(names)) == len(names)
    flags = [n.replace("_", "-") for n in names]
    assert len(set(flags)) == len(flags)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("dob_ssn", "19631321_4278", "does not start with a valid date"),
        ("dob_ssn", "18991231_4278", "birth year is before 1900"),
        ("dob_ssn", "1963-06-21", "does not match the format"),
        ("dob_ssn", "19630621_427X", "does not match the format"),
        ("dob_ssn", 19630621, "must be a string, got int"),
        ("dob_ssn", None, "must be a string, got null"),
        ("zipcode", 100_000, "must be at most 99999"),
        ("zipcode", -1, "must be at least 0"),
        ("zipcode", True, "must be an integer, got bool"),
        ("zipcode", "76104", "must be an integer, got str"),
    ],
)
def test_entity_keys_are_checked_without_showing_the_value(
    key: str, value: object, expected: str
) -> None:
    with pytest.raises(ValueError, match=expected) as caught:
        ENTITY_KEYS[key].parse(value)
    message = str(caught.value)
    assert message.startswith(f"{key} ")
    for part in ("1963", "4278", "1899", "100000", "76104"):
        assert part not in message


def test_valid_entity_keys_pass() -> None:
    assert ENTITY_KEYS["dob_ssn"].parse(SECRET) == SECRET
    assert ENTITY_KEYS["zipcode"].parse(76104) == 76104


def test_value_constraints_name_numbers_of_their_own_view() -> None:
    for view in VIEWS:
        by_name = {c.name: c for c in view.features}
        for column in view.features:
            assert column.kind != "string" or not column.bounds, column.name
        for lower, upper in view.orderings:
            assert upper in by_name, (view.name, lower, upper)
            assert by_name[lower].kind == by_name[upper].kind != "string"
        # No cycle: following at_most from any feature ends.
        for start in by_name:
            seen, name = set(), start
            while (name := by_name[name].at_most) is not None:
                assert name not in seen, f"at_most cycle through {name}"
                seen.add(name)


def test_bounds_are_read_from_the_tags() -> None:
    column = next(c for c in LOAN_REQUEST_COLUMNS if c.name == "loan_amnt")
    assert dict(column.bounds) == {"gt": 0, "le": 10_000_000}
    assert column.description == "Amount requested in USD"
    rate = next(c for c in LOAN_REQUEST_COLUMNS if c.name == "loan_int_rate")
    assert dict(rate.bounds) == {"ge": 0.0, "le": 100.0}
