"""Errors of the stream processor; each message says what to do."""

from __future__ import annotations

from core.errors import CreditPipelineError


class StreamProcessorError(CreditPipelineError):
    """Base class of the stream processor's deliberate errors."""


class FeatureViewNotRegistered(StreamProcessorError):
    """A push source of the contract feeds no feature view in the Feast registry."""


class StoreUnavailable(StreamProcessorError):
    """A store (online, offline, dead-letter topic) refused a write; the batch is retried."""

    def __init__(self, store: str, address: str, detail: str) -> None:
        super().__init__(f"{store} unreachable at {address}: {detail}")
        self.store = store
        self.address = address
        self.detail = detail
