"""The served model: an artifact, its compiled single-row scorer, checked once at load."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.model.artifact import LATEST, ModelArtifact, load_artifact
from core.model.columns import ModelColumns
from core.model.compiled import COMPILED_TOLERANCE, CompiledModel
from core.model.errors import ModelArtifactError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedModel:
    """What a decision needs from the model: columns, threshold, version and a scorer."""

    artifact: ModelArtifact
    columns: ModelColumns
    compiled: CompiledModel

    @classmethod
    def load(cls, model_dir: Path, version: str = LATEST) -> ServedModel:
        """Load and self-check a version; ModelArtifactError if it would score wrongly."""
        artifact = load_artifact(model_dir, version)
        meta = artifact.metadata
        try:
            columns = ModelColumns.from_names(meta.request_fields, meta.feature_refs)
            if columns.names != meta.model_columns:
                raise ValueError(f"model columns {meta.model_columns} != {columns.names}")
            compiled = CompiledModel(artifact.pipeline, columns)
        except (ValueError, TypeError) as exc:
            raise ModelArtifactError(
                f"model {meta.version} does not fit the current feature contract: {exc}. "
                "Retrain it with `credit-pipeline train`."
            ) from exc
        ref = artifact.reference
        worst = max(
            (
                abs(compiled.predict_one(row) - p)
                for row, p in zip(ref.rows, ref.p_default, strict=True)
            ),
            default=0.0,
        )
        if not worst <= COMPILED_TOLERANCE:
            raise ModelArtifactError(
                f"model {meta.version} scores its reference rows {worst:.3g} away from the "
                "probabilities saved at training time (a different scikit-learn?). Retrain it."
            )
        log.info(
            "loaded model %s (%d trees, AUC %.4f) from %s",
            meta.version,
            compiled.n_trees,
            meta.metrics["model"]["roc_auc"] or math.nan,
            artifact.path,
        )
        return cls(artifact, columns, compiled)

    @property
    def version(self) -> str:
        return self.artifact.metadata.version

    @property
    def threshold(self) -> float:
        return self.artifact.metadata.decision_threshold

    @property
    def feature_refs(self) -> list[str]:
        return list(self.artifact.metadata.feature_refs)

    def trained_missing_rate(self, view: str) -> float:
        """Share of training loans for which the point-in-time join found nothing in `view`."""
        return self.artifact.metadata.view_missing_rate.get(view, 0.0)

    def p_default(self, row: Sequence[object]) -> float:
        return self.compiled.predict_one(row)
