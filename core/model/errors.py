"""Errors of training and of model artifacts; each message says what to do."""

from __future__ import annotations

from core.errors import CreditPipelineError


class TrainingError(CreditPipelineError):
    """Training could not run or produced nothing usable."""


class NoTrainingDataError(TrainingError):
    """The offline store holds no loans to learn from."""


class ModelArtifactError(CreditPipelineError):
    """A model artifact is missing, incomplete or does not match its metadata."""


class ModelNotFoundError(ModelArtifactError):
    """No artifact with the requested version exists."""
