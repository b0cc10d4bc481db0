"""feature_repo/contract.json is what core.contract reads from the Feast definitions.

Commands read the contract from that snapshot, so they need not import Feast. After a change to
feature_repo/definitions.py (or to how core.contract reads it), refresh it with
`REGENERATE_DOCS=1 .venv/bin/python -m pytest tests/core/test_contract_snapshot.py`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from core import contract


def test_the_snapshot_is_what_the_definitions_give() -> None:
    path = contract.snapshot_path()
    expected = contract.read_definitions()
    if os.environ.get("REGENERATE_DOCS") == "1":
        path.write_text(json.dumps(expected, indent=2) + "\n")
    assert json.loads(path.read_text()) == expected, (
        f"{path} is stale: see this test's docstring to refresh it"
    )


def test_a_fresh_snapshot_is_used_as_it_is(tmp_path: Path) -> None:
    definitions = tmp_path / "definitions.py"
    shutil.copy(contract.snapshot_path().with_name("definitions.py"), definitions)
    snapshot = tmp_path / "contract.json"
    data = json.loads(contract.snapshot_path().read_text())
    data["scoring_service"]["name"] = "marked"  # shows which one was read
    snapshot.write_text(json.dumps(data))
    assert contract.load_definitions(snapshot, definitions)["scoring_service"]["name"] == "marked"


def test_changed_definitions_are_read_instead_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    definitions = tmp_path / "definitions.py"
    source = contract.snapshot_path().with_name("definitions.py").read_text()
    definitions.write_text(source + "\n# edited\n")
    snapshot = tmp_path / "contract.json"
    snapshot.write_text(contract.snapshot_path().read_text())
    with caplog.at_level(logging.WARNING, logger="core.contract"):
        data = contract.load_definitions(snapshot, definitions)
    assert data == contract.read_definitions()
    assert "definitions.py changed since contract.json was written" in caplog.text
    assert "REGENERATE_DOCS=1" in caplog.text


def test_a_missing_snapshot_falls_back_to_the_definitions(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    definitions = contract.snapshot_path().with_name("definitions.py")
    with caplog.at_level(logging.WARNING, logger="core.contract"):
        data = contract.load_definitions(tmp_path / "absent.json", definitions)
    assert data == contract.read_definitions()
    assert "unreadable (FileNotFoundError)" in caplog.text


def test_the_feast_objects_are_found_by_the_names_the_snapshot_keeps() -> None:
    for view in contract.VIEWS:
        assert view.view.name == view.name
        assert view.push_source.name == view.push_source_name
        assert view.ttl == (view.view.ttl or None)
    assert contract.scoring_service().name == contract.SCORING_SERVICE_NAME
    names = {getattr(o, "name", None) for o in contract.feast_objects()}
    assert {v.name for v in contract.VIEWS} | {contract.SCORING_SERVICE_NAME} <= names
