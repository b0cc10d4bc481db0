"""`train`: point-in-time frame -> time split -> model and baselines -> versioned artifact."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.console import progress_bar
from core.contract import EVENT_TIMESTAMP, SCORING_SERVICE_NAME, scoring_service
from core.model.artifact import Reference, new_version_id, save_artifact
from core.model.columns import LABEL, ModelColumns
from core.model.compiled import COMPILED_TOLERANCE, CompiledModel
from core.model.errors import TrainingError
from core.model.metadata import (
    DEFAULT_TEST_FRACTION,
    ModelMetadata,
    Window,
    library_versions,
)
from core.settings import Settings
from training.estimators import (
    BOOSTING_PARAMS,
    boosting_pipeline,
    cap_categories,
    decision_tree_pipeline,
    majority_pipeline,
    monotone_constraints,
)
from training.frame import (
    ENTITY_NAMES,
    frame_sha256,
    join_features,
    read_loans,
    time_split,
)
from training.metrics import evaluate

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger(__name__)

REFERENCE_ROWS = 64


@dataclass(frozen=True)
class TrainingResult:
    """Where the artifact went, what it says, and the frame it was trained on."""

    path: Path
    metadata: ModelMetadata
    frame: pd.DataFrame


def train_model(
    settings: Settings,
    *,
    model_dir: Path | None = None,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    threshold: float | None = None,
    store: FeatureStore | None = None,
) -> TrainingResult:
    """Train on every loan of the offline store and save a new model version."""
    columns = ModelColumns.from_contract()
    loans = read_loans(settings)
    if store is None:
        from core.feast_store import open_store

        store = open_store(settings)
    started = time.perf_counter()
    frame = join_features(store, scoring_service(), loans, columns)
    log.info("point-in-time join: %d loans in %.1f s", len(frame), time.perf_counter() - started)
    return fit_and_save(
        frame,
        columns,
        model_dir=model_dir or settings.model_path,
        test_fraction=test_fraction,
        threshold=settings.decision_threshold if threshold is None else threshold,
    )


def model_rows(frame: pd.DataFrame, columns: ModelColumns) -> list[list[Any]]:
    """Rows of model-column values as the API builds them (None for missing)."""
    values = frame[columns.names].astype(object)
    rows: list[list[Any]] = values.where(values.notna(), None).to_numpy().tolist()
    return rows


def view_missing_rate(frame: pd.DataFrame, columns: ModelColumns) -> dict[str, float]:
    """Per view, the share of rows whose every feature of that view is missing."""
    return {
        view: float(frame[features].isna().all(axis=1).mean())
        for view, features in columns.views().items()
    }


def _window(part: pd.DataFrame) -> Window:
    times = part[EVENT_TIMESTAMP]
    start, end = times.min().to_pydatetime(), times.max().to_pydatetime()
    return Window(start=start, end=end, rows=len(part))


def fit_and_save(
    frame: pd.DataFrame,
    columns: ModelColumns,
    *,
    model_dir: Path,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    threshold: float = 0.5,
) -> TrainingResult:
    """Fit the model and its baselines on a canonical frame, evaluate, save an artifact."""
    if not 0 < threshold < 1:
        raise TrainingError(f"the decision threshold must be between 0 and 1, got {threshold}")
    split = time_split(frame, test_fraction)
    train = cap_categories(split.train, columns)
    y_train, y_test = train[LABEL].to_numpy(), split.test[LABEL].to_numpy()
    estimators = {
        "model": boosting_pipeline(columns),
        # The same without the monotone constraints: what they cost in AUC, in this very run.
        "unconstrained": boosting_pipeline(columns, monotone=False),
        "decision_tree": decision_tree_pipeline(columns),
        "majority": majority_pipeline(),
    }
    metrics: dict[str, dict[str, float | None]] = {}
    with progress_bar(len(estimators), "models fitted", unit="models") as bar:
        for name, estimator in estimators.items():
            started = time.perf_counter()
            estimator.fit(train[columns.names], y_train)
            p_test = estimator.predict_proba(split.test[columns.names])[:, 1]
            metrics[name] = evaluate(y_test, p_test, threshold)
            bar.update()
            log.info(
                "%s: fitted in %.1f s, holdout %s",
                name,
                time.perf_counter() - started,
                metrics[name],
            )
    pipeline = estimators["model"]
    p_model = pipeline.predict_proba(split.test[columns.names])[:, 1]
    rows = model_rows(split.test, columns)
    diff = _compiled_difference(pipeline, columns, rows, p_model)

    metadata = ModelMetadata(
        version=new_version_id(),
        created_at=datetime.now(UTC),
        model_type=type(pipeline.named_steps["model"]).__name__,
        hyperparameters={
            **BOOSTING_PARAMS,
            "n_iter": int(pipeline.named_steps["model"].n_iter_),
            "monotonic_cst": monotone_constraints(columns),
        },
        feature_service=SCORING_SERVICE_NAME,
        feature_refs=list(columns.feature_refs),
        request_fields=[c.name for c in columns.request],
        model_columns=columns.names,
        entity_keys=ENTITY_NAMES,
        label=LABEL,
        decision_threshold=threshold,
        rows=len(frame),
        frame_sha256=frame_sha256(frame),
        training_window=_window(frame),
        test_fraction=test_fraction,
        train=_window(split.train),
        test=_window(split.test),
        view_missing_rate=view_missing_rate(split.train, columns),
        metrics=metrics,
        compiled_max_abs_diff=diff,
        libraries=library_versions(),
        model_sha256="",  # filled in by save_artifact
    )
    reference = Reference(rows[:REFERENCE_ROWS], [float(p) for p in p_model[:REFERENCE_ROWS]])
    path, saved = save_artifact(model_dir, pipeline, metadata, reference)
    return TrainingResult(path, saved, frame)


def _compiled_difference(
    pipeline: Any, columns: ModelColumns, rows: list[list[Any]], expected: np.ndarray
) -> float:
    compiled = CompiledModel(pipeline, columns)
    got = np.asarray([compiled.predict_one(row) for row in rows])
    diff = float(np.max(np.abs(got - expected))) if len(rows) else 0.0
    if diff > COMPILED_TOLERANCE:
        raise TrainingError(
            f"the compiled scorer differs from scikit-learn by {diff:.3g} on the holdout; "
            "the artifact would score differently in the API, so none was saved"
        )
    gap = max(
        (abs(compiled.base_margin + sum(c) - m) for m, c in map(compiled.explain, rows)),
        default=0.0,
    )
    if gap > COMPILED_TOLERANCE:
        raise TrainingError(f"reasons would not add up to the margin (off by {gap:.3g})")
    return diff
