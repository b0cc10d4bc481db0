"""Versioned model artifacts: `<model_dir>/<version>/{model.joblib, metadata.json}`.

A version id is the UTC training time (`20261122T101502.123456Z`), so versions sort by age
and `latest` is the greatest complete one. Saving writes a hidden temporary directory and
renames it into place, so a reader never sees half an artifact; earlier versions are kept.
The joblib file is a pickle: load artifacts only from a directory you trust. Its SHA-256 is
checked against the metadata before unpickling.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from core.model.errors import ModelArtifactError, ModelNotFoundError
from core.model.metadata import FORMAT_VERSION, ModelMetadata

if TYPE_CHECKING:  # scikit-learn and joblib cost seconds to import: listing versions needs neither
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)

LATEST = "latest"
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
VERSION_FORMAT = "%Y%m%dT%H%M%S.%fZ"
VERSION_PATTERN = re.compile(r"^\d{8}T\d{6}\.\d{6}Z$")


@dataclass(frozen=True)
class Reference:
    """Rows (model-column values) and scikit-learn's P(default) for them: a load-time check."""

    rows: list[list[Any]]
    p_default: list[float]


@dataclass(frozen=True)
class ModelArtifact:
    """A loaded model: the fitted pipeline, its metadata and its reference sample."""

    path: Path
    pipeline: Pipeline
    metadata: ModelMetadata
    reference: Reference

    @property
    def version(self) -> str:
        return self.metadata.version


def new_version_id(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime(VERSION_FORMAT)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_versions(model_dir: Path) -> list[str]:
    """Complete versions in `model_dir`, oldest first."""
    if not model_dir.is_dir():
        return []
    return sorted(
        p.name
        for p in model_dir.iterdir()
        if VERSION_PATTERN.match(p.name) and (p / METADATA_FILE).is_file()
    )


def resolve_version(model_dir: Path, version: str = LATEST) -> str:
    """A concrete version id for `version` (an id or `latest`)."""
    versions = list_versions(model_dir)
    if version == LATEST:
        if not versions:
            raise ModelNotFoundError(
                f"no trained model in {model_dir}: run `credit-pipeline train` first"
            )
        return versions[-1]
    if version not in versions:
        known = ", ".join(versions[-5:]) or "none"
        raise ModelNotFoundError(
            f"model version {version!r} is not in {model_dir} (latest versions: {known})"
        )
    return version


def save_artifact(
    model_dir: Path,
    pipeline: Pipeline,
    metadata: ModelMetadata,
    reference: Reference,
) -> tuple[Path, ModelMetadata]:
    """Write a new version directory atomically; returns it and the metadata as saved
    (with `model_sha256` filled in)."""
    import joblib

    model_dir.mkdir(parents=True, exist_ok=True)
    staging = model_dir / f".tmp-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        model_path = staging / MODEL_FILE
        joblib.dump({"pipeline": pipeline, "reference": reference}, model_path, compress=3)
        final = metadata.model_copy(update={"model_sha256": file_sha256(model_path)})
        (staging / METADATA_FILE).write_text(final.model_dump_json(indent=2) + "\n")
        target = model_dir / metadata.version
        os.rename(staging, target)  # atomic; fails if the version exists (never overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("saved model %s to %s", metadata.version, target)
    return target, final


def read_metadata(model_dir: Path, version: str = LATEST) -> ModelMetadata:
    """The metadata of a version, without unpickling the model."""
    path = model_dir / resolve_version(model_dir, version) / METADATA_FILE
    try:
        metadata = ModelMetadata.model_validate_json(path.read_text())
    except (OSError, ValidationError) as exc:
        raise ModelArtifactError(f"cannot read {path}: {exc}") from exc
    if metadata.format_version != FORMAT_VERSION:
        raise ModelArtifactError(
            f"{path} has format {metadata.format_version}; this code reads {FORMAT_VERSION}: "
            "retrain with `credit-pipeline train`"
        )
    return metadata


def load_artifact(model_dir: Path, version: str = LATEST) -> ModelArtifact:
    """Load a version (default the latest) after checking the model file's checksum."""
    metadata = read_metadata(model_dir, version)
    path = model_dir / metadata.version
    model_path = path / MODEL_FILE
    if not model_path.is_file():
        raise ModelArtifactError(f"{model_path} is missing: the artifact is incomplete")
    if file_sha256(model_path) != metadata.model_sha256:
        raise ModelArtifactError(
            f"{model_path} does not match the checksum in its {METADATA_FILE}: "
            "the file was changed or corrupted; retrain or restore it"
        )
    import joblib

    try:
        bundle = joblib.load(model_path)
        pipeline, reference = bundle["pipeline"], bundle["reference"]
    except Exception as exc:  # unpickling raises anything a changed library may raise
        raise ModelArtifactError(
            f"cannot load {model_path} ({type(exc).__name__}: {exc}); it was saved with "
            f"{json.dumps(metadata.libraries)}"
        ) from exc
    return ModelArtifact(path, pipeline, metadata, reference)
