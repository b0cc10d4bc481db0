"""`credit-pipeline score`: options from the contract, in-process and over HTTP."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from core.cli_options import LazyOptionsParser
from core.contract import ENTITY_KEYS, LOAN_REQUEST_COLUMNS
from core.settings import REPO_ROOT, Settings
from scoring_api.cli import add_serve_commands
from scoring_api.main import create_app
from scoring_api.score_cli import ScoreError, run_score
from tests.scoring_api.conftest import make_key, served_in_thread


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    # As credit_pipeline.cli builds it: subcommands may add their options lazily.
    add_serve_commands(parser.add_subparsers(dest="command", parser_class=LazyOptionsParser))
    return parser


def _argv(application: dict[str, Any]) -> list[str]:
    argv = ["score"]
    for name, value in application.items():
        if value is not None:
            argv += ["--" + name.replace("_", "-"), str(value)]
    return argv


def test_there_is_one_option_per_contract_field(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["score", "--help"])
    shown = capsys.readouterr().out
    for name in [*ENTITY_KEYS, *(c.name for c in LOAN_REQUEST_COLUMNS)]:
        assert "--" + name.replace("_", "-") in shown
    assert "RENT,OWN,MORTGAGE,OTHER" in shown


_FEAST_IMPORTED = """
import argparse, sys
from core.cli_options import LazyOptionsParser
from scoring_api.cli import add_serve_commands
parser = argparse.ArgumentParser()
add_serve_commands(parser.add_subparsers(dest="command", parser_class=LazyOptionsParser))
parser.format_help()
parser.parse_args(sys.argv[1:])
print("feast imported:", "feast" in sys.modules)
"""


@pytest.mark.parametrize("argv", [["serve"], ["score", "--zipcode", "1"]])
def test_registering_and_parsing_the_commands_imports_no_feast(argv: list[str]) -> None:
    """`score`'s options come from the contract's snapshot: no `import feast` (~5 s)."""
    done = subprocess.run(
        [sys.executable, "-c", _FEAST_IMPORTED, *argv],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "feast imported: False" in done.stdout


def test_score_help_of_the_whole_cli_lists_the_contract_options() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from credit_pipeline.cli import main; main()", "score", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "--dob-ssn" in done.stdout and "--loan-amnt" in done.stdout


def test_missing_fields_are_named() -> None:
    args = _parser().parse_args(["score", "--zipcode", "76104"])
    with pytest.raises(ScoreError, match="--dob-ssn.*--sample"):
        run_score(Settings(api_key="cpk_000000000000_" + "x" * 43), args)


@pytest.mark.integration
def test_local_scoring_prints_the_decision(
    trained_stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    application = trained_stack.latest_loan_application()
    argv = [*_argv(application), "--local", "--model-dir", str(trained_stack.model_dir)]
    assert run_score(trained_stack.settings, _parser().parse_args(argv)) == 0
    out = capsys.readouterr().out
    assert out.split()[0] in ("APPROVED", "REJECTED")
    assert trained_stack.training.metadata.version in out
    assert application["dob_ssn"] not in out


@pytest.fixture
def served(trained_stack: Any) -> Iterator[str]:
    """The API on a real port (uvicorn in a thread), as `credit-pipeline serve` runs it."""
    app = create_app(trained_stack.settings, model_dir=trained_stack.model_dir)
    with served_in_thread(app) as url:
        yield url


@pytest.mark.integration
def test_scoring_through_the_running_api(
    trained_stack: Any, served: str, capsys: pytest.CaptureFixture[str]
) -> None:
    application = trained_stack.latest_loan_application()
    args = _parser().parse_args([*_argv(application), "--url", served, "--json"])
    with pytest.raises(ScoreError, match="CREDIT_API_KEY"):
        run_score(trained_stack.settings, args)
    key = SecretStr(make_key(trained_stack.settings, ("score",)))
    settings = trained_stack.settings.model_copy(update={"api_key": key})
    assert run_score(settings, args) == 0
    assert '"decision"' in capsys.readouterr().out

    refused = _parser().parse_args([*_argv({**application, "person_age": 12}), "--url", served])
    with pytest.raises(ScoreError, match=r"(?s)validation_error.*person_age") as caught:
        run_score(settings, refused)
    assert application["dob_ssn"] not in str(caught.value)


def test_an_api_that_is_not_running_is_reported(unused_port_url: str) -> None:
    application = {
        "dob_ssn": "19630621_4278",
        "zipcode": 76104,
        "person_age": 63,
        "person_income": 59000,
        "person_home_ownership": "RENT",
        "loan_intent": "PERSONAL",
        "loan_amnt": 35000,
    }
    args = _parser().parse_args([*_argv(application), "--url", unused_port_url])
    with pytest.raises(ScoreError, match="credit-pipeline serve"):
        run_score(Settings(api_key="cpk_000000000000_" + "x" * 43), args)


@pytest.fixture
def unused_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_serve_on_a_taken_port_fails_before_loading_anything(tmp_path: Any) -> None:
    from core.errors import ConfigurationError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        args = _parser().parse_args(["serve", "--port", str(port)])
        # No model in this directory: the port is checked before the model is looked for.
        settings = Settings(state_dir=tmp_path)
        with pytest.raises(ConfigurationError, match=f"127.0.0.1:{port} is already in use by pid"):
            args.func(settings, args)
