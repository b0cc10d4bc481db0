"""The local stack: Tansu (Kafka), Valkey (Redis) and Postgres as child processes, no Docker."""

from credit_pipeline.stack.errors import (
    BinaryNotFoundError,
    PortInUseError,
    ServiceNotReadyError,
    ServiceStartError,
    StackError,
    StackPermissionError,
)
from credit_pipeline.stack.local import LocalStack
from credit_pipeline.stack.status import ServiceState, ServiceStatus
from credit_pipeline.stack.urls import connection_urls

__all__ = [
    "BinaryNotFoundError",
    "LocalStack",
    "PortInUseError",
    "ServiceNotReadyError",
    "ServiceStartError",
    "ServiceState",
    "ServiceStatus",
    "StackError",
    "StackPermissionError",
    "connection_urls",
]
