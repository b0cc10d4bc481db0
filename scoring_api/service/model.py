"""The served model: an artifact, its compiled single-row scorer, checked once at load."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.contract import Column
from core.model.artifact import LATEST, ModelArtifact, load_artifact
from core.model.columns import ModelColumns, split_ref
from core.model.compiled import COMPILED_TOLERANCE, CompiledModel, probability
from core.model.errors import ModelArtifactError

log = logging.getLogger(__name__)


TOP_REASONS = 4  # as adverse-action notices give them: the principal reasons


@dataclass(frozen=True, slots=True)
class Reason:
    """One column that pushed this applicant towards default, and by how much (log-odds)."""

    feature: str
    view: str | None  # None: a field of the application itself
    value: object
    contribution: float
    phrase: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """P(default), its margin (log-odds), the margin every explanation starts from, and the
    principal reasons; `base_margin` plus every column's contribution is `margin`."""

    p_default: float
    margin: float
    base_margin: float
    reasons: list[Reason]


@dataclass(frozen=True)
class ServedModel:
    """What a decision needs from the model: columns, threshold, version and a scorer."""

    artifact: ModelArtifact
    columns: ModelColumns
    compiled: CompiledModel
    _columns: tuple[Column, ...] = field(init=False, repr=False)
    _views: list[str | None] = field(init=False, repr=False)
    _request_fields: list[str] = field(init=False, repr=False)
    _refs: list[tuple[str, str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        refs = [split_ref(ref) for ref in self.columns.feature_refs]
        views: list[str | None] = [None] * len(self.columns.request)
        views += [view for view, _ in refs]
        object.__setattr__(self, "_columns", self.columns.all)
        object.__setattr__(self, "_views", views)
        object.__setattr__(self, "_request_fields", [c.name for c in self.columns.request])
        object.__setattr__(self, "_refs", refs)

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

    def row(
        self, application: Mapping[str, object], values: Mapping[str, Mapping[str, object]]
    ) -> list[object]:
        """The model's input row: the application's request fields, then each feature
        reference's value from `values[view][feature]` (KeyError if one is absent). Serving
        and replay both build rows here, so a replayed row is the served one."""
        row = [application[name] for name in self._request_fields]
        row += [values[view][feature] for view, feature in self._refs]
        return row

    def p_default(self, row: Sequence[object]) -> float:
        return self.compiled.predict_one(row)

    def explain(self, row: Sequence[object]) -> Explanation:
        """P(default) of a row with its margin and the reasons that pushed it up most."""
        margin, contributions = self.compiled.explain(row)
        ranked = sorted(
            (i for i, c in enumerate(contributions) if c > 0),
            key=lambda i: contributions[i],
            reverse=True,
        )[:TOP_REASONS]
        reasons = [
            Reason(
                feature=self._columns[i].name,
                view=self._views[i],
                value=row[i],
                contribution=contributions[i],
                phrase=self._columns[i].reason_phrase(row[i]),
            )
            for i in ranked
        ]
        return Explanation(probability(margin), margin, self.compiled.base_margin, reasons)
