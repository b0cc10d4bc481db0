"""Every `credit-pipeline` command line the image and the compose services run is a real one.

Two checks per command line, so a failure says which kind it is:
- `test_subcommand_is_registered` fails only when the subcommand is missing from
  `credit_pipeline.cli.build_parser()` (e.g. while it is still being written);
- `test_command_line_parses` parses the whole line (options included) once it exists.
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from credit_pipeline.cli import build_parser


def _registered_subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def test_subcommand_is_registered(command_line: Any) -> None:
    registered = _registered_subcommands(build_parser())
    subcommand = command_line.argv[0]
    if subcommand not in registered:
        pytest.fail(
            f"MISSING SUBCOMMAND: {command_line.where} runs `credit-pipeline {subcommand}`, "
            f"which credit_pipeline.cli.build_parser() does not register (registered: "
            f"{', '.join(sorted(registered))})",
            pytrace=False,
        )


def test_command_line_parses(command_line: Any, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    if command_line.argv[0] not in _registered_subcommands(parser):
        pytest.skip(
            f"`{command_line.argv[0]}` is not registered: see test_subcommand_is_registered"
        )
    try:
        parser.parse_args(list(command_line.argv))
    except SystemExit as exc:
        error = capsys.readouterr().err.strip().splitlines()[-1:]
        pytest.fail(
            f"{command_line.where}: `credit-pipeline {' '.join(command_line.argv)}` does not "
            f"parse (exit {exc.code}): {' '.join(error)}",
            pytrace=False,
        )
