"""The local stack: Tansu (Kafka), Valkey (Redis) and Postgres as child processes, no Docker."""

from local_stack.errors import (
    BinaryNotFoundError,
    PortInUseError,
    ServiceNotReadyError,
    ServiceStartError,
    StackError,
    StackPermissionError,
)
from local_stack.local import LocalStack
from local_stack.status import ServiceState, ServiceStatus
from local_stack.urls import connection_urls

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
