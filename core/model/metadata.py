"""The metadata saved beside every model artifact (metadata.json), validated on load."""

from __future__ import annotations

import platform
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 1
DEFAULT_TEST_FRACTION = 0.2  # the latest fifth of the loans is the holdout
LIBRARIES = ("scikit-learn", "pandas", "numpy", "feast", "joblib")


class Window(BaseModel):
    """A span of loans by event time."""

    start: datetime
    end: datetime
    rows: int


class ModelMetadata(BaseModel):
    """What a model was trained on, how well it did, and with which libraries."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    format_version: int = FORMAT_VERSION
    version: str = Field(description="Sortable, timestamp-based version id")
    created_at: datetime
    model_type: str
    hyperparameters: dict[str, Any]
    feature_service: str = Field(description="The Feast FeatureService the frame was joined with")
    feature_refs: list[str] = Field(description="view:feature references the model reads")
    request_fields: list[str] = Field(description="Loan application fields the model reads")
    model_columns: list[str] = Field(description="Column order of the model's input")
    entity_keys: list[str]
    label: str
    decision_threshold: float = Field(description="Reject when P(default) >= this")
    rows: int = Field(description="Rows of the training frame (train + test)")
    frame_sha256: str = Field(description="SHA-256 of the canonical training frame")
    training_window: Window
    test_fraction: float = Field(description="Share of the latest loans held out")
    train: Window
    test: Window
    view_missing_rate: dict[str, float] = Field(
        description="Per feature view, share of training rows the point-in-time join left empty"
    )
    metrics: dict[str, dict[str, float | None]] = Field(
        description="Holdout metrics of the model and of its baselines"
    )
    compiled_max_abs_diff: float = Field(
        description="Largest |P| difference of the API's compiled scorer vs scikit-learn"
    )
    libraries: dict[str, str]
    model_sha256: str = Field(description="SHA-256 of model.joblib")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape the model and its frame."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions
