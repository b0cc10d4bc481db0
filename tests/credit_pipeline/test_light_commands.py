"""Commands that only list, describe or ask a service do not import the heavy libraries.

Feast, pandas, scikit-learn and faust take seconds to import on a loaded machine; `--help`,
`models` and `stack status` need none of them. Run in a fresh interpreter, since this test
process has imported them long ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import REPO_ROOT

HEAVY = ("feast", "pandas", "sklearn", "joblib", "faust", "pyarrow")

_RUN = """
import json, sys
from credit_pipeline.cli import main
sys.argv = ["credit-pipeline", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("HEAVY=" + json.dumps(heavy))
"""


@pytest.mark.parametrize("argv", [["--help"], ["models"], ["stack", "status"]])
def test_a_light_command_imports_no_heavy_library(argv: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "CREDIT_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run(
        [sys.executable, "-c", _RUN.format(heavy=HEAVY), *argv],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    marker = [line for line in done.stdout.splitlines() if line.startswith("HEAVY=")]
    assert marker, done.stdout + done.stderr
    assert json.loads(marker[0].removeprefix("HEAVY=")) == []
