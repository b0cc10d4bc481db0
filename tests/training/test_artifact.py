"""Versioned artifacts: save, latest, a named version, tampering, and what is missing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.contract import scoring_feature_refs
from core.model.artifact import (
    MODEL_FILE,
    list_versions,
    load_artifact,
    read_metadata,
    resolve_version,
)
from core.model.columns import ModelColumns
from core.model.errors import ModelArtifactError, ModelNotFoundError
from training.frame import frame_sha256
from training.train import fit_and_save


def test_metadata_describes_the_frame_and_the_holdout(frame: pd.DataFrame, tmp_path: Path) -> None:
    result = fit_and_save(frame, ModelColumns.from_contract(), model_dir=tmp_path, threshold=0.4)
    meta = result.metadata
    assert meta.rows == len(frame)
    assert meta.frame_sha256 == frame_sha256(frame)
    assert meta.feature_refs == scoring_feature_refs()
    assert meta.decision_threshold == 0.4
    assert meta.train.rows + meta.test.rows == meta.rows
    assert meta.train.end < meta.test.start
    assert set(meta.metrics) == {"model", "unconstrained", "decision_tree", "majority"}
    assert meta.hyperparameters["monotonic_cst"]["missed_payments_6m"] == 1
    assert meta.metrics["model"]["roc_auc"] > meta.metrics["majority"]["roc_auc"] == 0.5
    assert meta.compiled_max_abs_diff <= 1e-9
    assert {"scikit-learn", "pandas", "numpy", "feast"} <= set(meta.libraries)
    assert read_metadata(tmp_path, meta.version) == meta


def test_latest_is_the_newest_and_older_versions_stay(frame: pd.DataFrame, tmp_path: Path) -> None:
    columns = ModelColumns.from_contract()
    first = fit_and_save(frame, columns, model_dir=tmp_path).metadata.version
    second = fit_and_save(frame, columns, model_dir=tmp_path).metadata.version
    assert first < second
    assert list_versions(tmp_path) == [first, second]
    assert resolve_version(tmp_path) == second
    assert load_artifact(tmp_path, first).version == first
    assert load_artifact(tmp_path).version == second


def test_a_changed_model_file_is_refused(frame: pd.DataFrame, tmp_path: Path) -> None:
    result = fit_and_save(frame, ModelColumns.from_contract(), model_dir=tmp_path)
    with (result.path / MODEL_FILE).open("ab") as f:
        f.write(b"tampered")
    with pytest.raises(ModelArtifactError, match="checksum"):
        load_artifact(tmp_path)


def test_no_model_says_to_train(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="credit-pipeline train"):
        load_artifact(tmp_path / "nothing-here")


def test_an_unknown_version_names_the_known_ones(frame: pd.DataFrame, tmp_path: Path) -> None:
    version = fit_and_save(frame, ModelColumns.from_contract(), model_dir=tmp_path).metadata.version
    with pytest.raises(ModelNotFoundError, match=version):
        load_artifact(tmp_path, "20000101T000000.000000Z")


def test_an_unfinished_save_is_not_a_version(frame: pd.DataFrame, tmp_path: Path) -> None:
    (tmp_path / ".tmp-abc").mkdir(parents=True)
    (tmp_path / "20990101T000000.000000Z").mkdir()  # no metadata.json: incomplete
    with pytest.raises(ModelNotFoundError):
        resolve_version(tmp_path)
