"""Errors of the producers; each message says what went wrong and what to do."""

from __future__ import annotations

from core.errors import CreditPipelineError, KafkaUnreachableError

__all__ = ["KafkaUnreachableError", "MissingFeaturesError", "OnlineReadError", "ProducerError"]


class ProducerError(CreditPipelineError):
    """Root of the producers' errors."""


class MissingFeaturesError(ProducerError):
    """An update lacks features and the entity has no online value to keep them from."""


class OnlineReadError(ProducerError):
    """The entity's current online value could not be read through Feast."""
