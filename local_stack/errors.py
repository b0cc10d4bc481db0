"""Errors of the embedded stack: each message names the service, the reason and what to do."""

from __future__ import annotations

from core.errors import CreditPipelineError


class StackError(CreditPipelineError):
    """An embedded-stack operation failed."""

    def __init__(self, message: str, *, service: str | None = None) -> None:
        super().__init__(message)
        self.service = service


class BinaryNotFoundError(StackError):
    """A server binary is missing or not executable."""


class PortInUseError(StackError):
    """A port the stack needs is already taken by a process it did not start."""


class ServiceStartError(StackError):
    """A server could not be prepared, or exited during start-up."""


class ServiceNotReadyError(StackError):
    """A server did not answer its health check within the timeout."""


class StackPermissionError(StackError):
    """The unprivileged Postgres user cannot reach a path it needs, or cannot be created."""
