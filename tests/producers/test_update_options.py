"""`produce update`: options generated from the contract, merging with the online row, masking."""

from __future__ import annotations

import argparse

import pytest

from core.cli_options import option_flag
from core.contract import CREDIT_HISTORY, VIEWS, ZIPCODE_FEATURES
from core.errors import CreditPipelineError
from core.events import parse_event
from history.options import HISTORY_OPTIONS
from producers.cli import add_produce_commands
from producers.errors import MissingFeaturesError, NothingToUpdateError
from producers.update import build_update, feature_options, starting_row

PERSON = "19630621_4278"
SAMPLE = {"int64": "7", "float64": "2.5", "string": "SPRINGFIELD"}
TYPED = {"int64": 7, "float64": 2.5, "string": "SPRINGFIELD"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="credit-pipeline")
    add_produce_commands(parser.add_subparsers(dest="command", required=True), HISTORY_OPTIONS)
    return parser


def _features(view_name: str) -> dict[str, object]:
    view = next(v for v in VIEWS if v.name == view_name)
    return {c.name: TYPED[c.kind] for c in view.features}


def test_every_feature_of_every_view_has_a_typed_option() -> None:
    options = feature_options()
    assert [(o.view.name, o.column.name) for o in options] == [
        (v.name, c.name) for v in VIEWS for c in v.features
    ]
    for view in VIEWS:
        argv = ["produce", "update", option_flag(view.entity.name), _key(view.name)]
        for column in view.features:
            argv += [option_flag(column.name), SAMPLE[column.kind]]
        args = _parser().parse_args(argv)
        for option in options:
            value = getattr(args, option.dest)
            assert value == (TYPED[option.column.kind] if option.view is view else None)


def test_flags_are_the_feature_names_in_kebab_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert option_flag("missed_payments_6m") == "--missed-payments-6m"
    with pytest.raises(SystemExit):
        _parser().parse_args(["produce", "update", "--help"])
    help_text = capsys.readouterr().out
    for view in VIEWS:
        assert option_flag(view.entity.name) in help_text
        for column in view.features:
            assert option_flag(column.name) in help_text


def test_an_integer_option_rejects_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["produce", "update", "--dob-ssn", PERSON, "--hard-pulls", "many"])
    assert "--hard-pulls" in capsys.readouterr().err


def test_a_bad_dob_ssn_is_refused_without_showing_it(capsys: pytest.CaptureFixture[str]) -> None:
    secret = "19630621-4278"  # wrong separator
    with pytest.raises(SystemExit):
        _parser().parse_args(["produce", "update", "--dob-ssn", secret])
    err = capsys.readouterr().err
    assert "dob_ssn" in err and "does not match" in err
    assert secret not in err and "4278" not in err


def test_one_entity_option_is_required() -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["produce", "update", "--hard-pulls", "1"])
    with pytest.raises(SystemExit):
        _parser().parse_args(["produce", "update", "--dob-ssn", PERSON, "--zipcode", "76104"])


def test_given_features_override_the_online_row_and_the_rest_is_kept() -> None:
    # Distinct values, decreasing: the missed payments stay ordered (6m <= 1y <= 2y).
    online = {c.name: 200 - i for i, c in enumerate(CREDIT_HISTORY.features)}
    event = build_update(CREDIT_HISTORY, PERSON, {"missed_payments_6m": 3}, online)
    assert event.row == {"dob_ssn": PERSON, **online, "missed_payments_6m": 3}
    assert parse_event(CREDIT_HISTORY, event.encode()).row == event.row


def test_without_an_online_row_every_feature_is_required_and_listed() -> None:
    with pytest.raises(MissingFeaturesError) as caught:
        build_update(CREDIT_HISTORY, PERSON, {"hard_pulls": 1}, None)
    message = str(caught.value)
    assert PERSON not in message and "4278" not in message
    assert "has no online value yet" in message
    for column in CREDIT_HISTORY.features:
        assert (option_flag(column.name) in message) == (column.name != "hard_pulls")


def test_an_update_without_a_feature_is_refused() -> None:
    online = {c.name: 1 for c in CREDIT_HISTORY.features}
    with pytest.raises(NothingToUpdateError) as caught:
        build_update(CREDIT_HISTORY, PERSON, {}, online)
    message = str(caught.value)
    assert PERSON not in message
    assert all(option_flag(c.name) in message for c in CREDIT_HISTORY.features)


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ({"hard_pulls": -1}, "'hard_pulls' must be at least 0"),
        ({"missed_payments_6m": 9}, "--missed-payments-6m may not exceed missed_payments_1y: give"),
    ],
)
def test_values_that_break_the_contract_are_refused_before_sending(
    given: dict[str, int], reason: str
) -> None:
    online = {c.name: 1 for c in CREDIT_HISTORY.features}
    with pytest.raises(CreditPipelineError, match=reason):
        build_update(CREDIT_HISTORY, PERSON, given, online)


def test_without_an_online_row_the_message_offers_new() -> None:
    with pytest.raises(MissingFeaturesError, match="add --new to start its numbers at 0"):
        build_update(CREDIT_HISTORY, PERSON, {"hard_pulls": 1}, None)


def test_new_starts_numbers_at_their_minimum_and_needs_every_string() -> None:
    args = _parser().parse_args(
        ["produce", "update", "--dob-ssn", PERSON, "--new", "--hard-pulls", "2"]
    )
    assert args.new
    start = starting_row(CREDIT_HISTORY)
    assert start == {c.name: 0 for c in CREDIT_HISTORY.features}
    event = build_update(CREDIT_HISTORY, PERSON, {"hard_pulls": 2}, start)
    assert event.row == {"dob_ssn": PERSON, **start, "hard_pulls": 2}

    with pytest.raises(MissingFeaturesError) as caught:  # city, state... have no default
        build_update(ZIPCODE_FEATURES, 76104, {"population": 5}, starting_row(ZIPCODE_FEATURES))
    assert "--city" in str(caught.value) and "--population" not in str(caught.value)


def test_a_complete_update_needs_no_online_row() -> None:
    event = build_update(ZIPCODE_FEATURES, 76104, _features(ZIPCODE_FEATURES.name), None)
    assert event.row["zipcode"] == 76104 and event.row["city"] == "SPRINGFIELD"


def test_an_invalid_value_is_refused_by_the_contract() -> None:
    features = _features(CREDIT_HISTORY.name) | {"hard_pulls": 2**70}
    with pytest.raises(CreditPipelineError, match="hard_pulls"):
        build_update(CREDIT_HISTORY, PERSON, features, None)


def _key(view_name: str) -> str:
    return PERSON if view_name == CREDIT_HISTORY.name else "76104"
