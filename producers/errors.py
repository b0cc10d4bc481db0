"""Errors of the producers; each message says what went wrong and what to do."""

from __future__ import annotations

from credit_pipeline.errors import CreditPipelineError


class ProducerError(CreditPipelineError):
    """Root of the producers' errors."""


class KafkaUnreachableError(ProducerError):
    """No Kafka broker answered at the configured address."""


class TopicError(ProducerError):
    """The update topics could not be created or did not appear in the cluster metadata."""


class MissingFeaturesError(ProducerError):
    """An update lacks features and the entity has no online value to keep them from."""


class OnlineReadError(ProducerError):
    """The entity's current online value could not be read through Feast."""
