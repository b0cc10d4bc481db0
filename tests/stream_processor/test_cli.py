"""The `process` command: its arguments, and settings handed to worker processes intact."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest
from pydantic import SecretStr

from core.settings import Settings, StackMode, load_settings, settings_env
from stream_processor.cli import add_process_commands, worker_command


def test_process_command_parses_workers_and_commit_interval() -> None:
    parser = argparse.ArgumentParser()
    add_process_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["process", "--workers", "3", "--commit-interval", "0.5"])
    assert (args.workers, args.commit_interval) == (3, 0.5)
    assert callable(args.func)


def test_settings_survive_the_trip_through_the_environment() -> None:
    settings = Settings(
        stack=StackMode.EXTERNAL,
        topic_prefix="t1-",
        consumer_group="g1",
        postgres_password=SecretStr("p@ss word"),
        redis_password=SecretStr("r"),
        metrics_port=0,
        faust_settings={"stream_buffer_maxsize": 8192},
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_")}
    env.update(settings_env(settings))
    code = (
        "import json; from core.settings import Settings; "
        "from core.settings import settings_env; print(json.dumps(settings_env(Settings())))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    # Compared through settings_env: it shows secrets, which model equality does not compare.
    assert json.loads(out) == settings_env(settings)
    assert json.loads(out)["CREDIT_POSTGRES_PASSWORD"] == "p@ss word"


def test_worker_command_runs_this_interpreter() -> None:
    command = worker_command(2, commit_interval=30.0)
    assert command[:3] == [sys.executable, "-m", "stream_processor"]
    assert command[3:] == ["--worker-index", "2", "--commit-interval", "30.0"]


def test_faust_settings_are_applied_and_a_misspelt_one_is_refused() -> None:
    from core.errors import ConfigurationError
    from stream_processor.faust_app import app_options

    options = app_options(Settings(faust_settings={"stream_buffer_maxsize": 8192}))
    assert options["stream_buffer_maxsize"] == 8192
    with pytest.raises(ConfigurationError, match=r"\['stream_bufer_maxsize'\].*not faust"):
        app_options(Settings(faust_settings={"stream_bufer_maxsize": 8192}))


def test_a_json_setting_that_is_not_json_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CREDIT_FAUST_SETTINGS", "{not json")
    assert load_settings() is None
    assert capsys.readouterr().err == "error: CREDIT_FAUST_SETTINGS: not valid JSON\n"
