"""Errors of the live feed; messages never show a sensitive entity key."""

from __future__ import annotations

from core.errors import CreditPipelineError


class LiveError(CreditPipelineError):
    """Root of the live feed's errors."""


class LiveMessageError(LiveError):
    """A message on the channel is not an announcement this version can read."""


class LiveUnavailableError(LiveError):
    """The feed or the online values cannot be read; the message says what to check."""
