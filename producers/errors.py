"""Errors of the producers; each message says what went wrong and what to do."""

from __future__ import annotations

from core.errors import CreditPipelineError, KafkaUnreachableError

__all__ = [
    "KafkaUnreachableError",
    "MissingFeaturesError",
    "NothingToUpdateError",
    "OnlineReadError",
    "ProducerError",
]


class ProducerError(CreditPipelineError):
    """Root of the producers' errors."""


class MissingFeaturesError(ProducerError):
    """An update lacks features and the entity has no online value to keep them from."""


class NothingToUpdateError(ProducerError):
    """An update names no feature: it would only restamp the online values as new."""


class OnlineReadError(ProducerError):
    """The entity's current online value could not be read through Feast."""
