"""A subcommand parser whose options are added the first time it is used.

Options generated from the feature contract need `core.contract`: cheap while its snapshot is
fresh, but after the Feast definitions change it reads them (imports Feast, ~5 s) until the
snapshot is refreshed. A subcommand built with `add_options=` adds them only when that
subcommand is parsed or its help printed, so the other commands never pay for that.
It is argparse's public extension point: `add_subparsers(parser_class=LazyOptionsParser)`,
then `subcommands.add_parser(name, add_options=...)`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Protocol

AddOptions = Callable[[argparse.ArgumentParser], None]


def option_flag(name: str) -> str:
    """The command-line flag of a contract name: `missed_payments_6m` -> `--missed-payments-6m`."""
    return "--" + name.replace("_", "-")


class LazyOptionsParser(argparse.ArgumentParser):
    """An ArgumentParser that calls `add_options(self)` once, before it first parses or
    formats its help or usage; without `add_options` it is a plain ArgumentParser."""

    def __init__(self, *args: Any, add_options: AddOptions | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._add_options = add_options

    def _ensure_options(self) -> None:
        if self._add_options is not None:
            add, self._add_options = self._add_options, None
            add(self)

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        self._ensure_options()
        return super().parse_known_args(*args, **kwargs)

    def format_help(self) -> str:
        self._ensure_options()
        return super().format_help()

    def format_usage(self) -> str:
        self._ensure_options()
        return super().format_usage()


class Subcommands(Protocol):
    """What `add_subparsers(parser_class=LazyOptionsParser)` returns, as a registrar uses it
    (mypy refuses the subparsers of a plain ArgumentParser here)."""

    def add_parser(self, name: str, **kwargs: Any) -> LazyOptionsParser: ...
