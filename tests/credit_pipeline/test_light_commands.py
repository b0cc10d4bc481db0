"""Commands that only list, describe or ask a service do not import the heavy libraries.

Feast, pandas, scikit-learn and faust take seconds to import on a loaded machine; `--help`,
`models`, `stack status` and the contract-derived options of `score` and `produce update` need
none of them. Run in a fresh interpreter, since this test process has imported them long ago.
(`score` and `produce update` against a running API: tests/scoring_api/test_light_clients.py.)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["models"],
        ["stack", "status"],
        ["score", "--help"],
        ["produce", "update", "--help"],
        ["produce", "stream", "--help"],
    ],
)
def test_a_light_command_imports_no_heavy_library(
    argv: list[str], tmp_path: Path, cli_listing_heavy: Callable[..., Any]
) -> None:
    env = {**os.environ, "CREDIT_STATE_DIR": str(tmp_path / "state")}
    _, heavy = cli_listing_heavy(env, *argv)
    assert heavy == []
