"""`credit-pipeline bench startup --smoke`: every command timed in both checkouts, with the
baselines and the import profile (the harness must not rot; no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import REPO_ROOT

pytestmark = pytest.mark.integration

ROWS = ("--help", "models", "stack status", "score (API up)", "produce update (API up)")


def test_startup_bench_times_every_command_beside_its_baselines(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["bench", "startup", "--smoke", "--rounds", "1", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "credit_pipeline.cli", *argv, "--against", str(REPO_ROOT)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    report = json.loads((out / "bench-startup-smoke.json").read_text())
    assert report["verified"] and report["errors"] == []
    medians = report["medians_s"]
    other = f"other: {REPO_ROOT.name}"
    for row in ROWS:
        assert set(medians[row]) == {"this checkout", other}, row
        assert all(seconds > 0 for seconds in medians[row].values())
        assert report["import_profile_ms"][row], row
    assert medians["python -c 'import feast'"]["baseline"] > 0
    assert medians["python -c pass"]["baseline"] > 0
    header = done.stdout.splitlines()[0]
    assert header.split(" | ") == ["command", "this checkout", other, "ratio", "/ import feast"]
