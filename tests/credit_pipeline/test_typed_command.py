"""The demo's hints name the CLI the way this shell can run it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.settings import REPO_ROOT
from credit_pipeline.demo_setup import typed_command


def test_on_path_it_is_the_plain_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Path(sys.executable).with_name("credit-pipeline").is_file()  # run from the venv
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    assert typed_command() == "credit-pipeline"


def test_off_path_in_the_checkout_it_is_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.chdir(REPO_ROOT)
    assert typed_command() == "./run"


def test_off_path_elsewhere_it_is_the_run_script_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.chdir(tmp_path)
    assert Path(typed_command()) == REPO_ROOT / "run"


def test_another_installation_on_path_is_not_ours(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "credit-pipeline"
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.chdir(REPO_ROOT)
    assert typed_command() == "./run"
