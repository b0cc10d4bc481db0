"""The stack's servers, in start order."""

from __future__ import annotations

from core.settings import Settings
from local_stack.paths import StatePaths
from local_stack.postgres import PostgresService
from local_stack.service import Service
from local_stack.tansu import KafkaService
from local_stack.valkey import RedisService


def all_services(settings: Settings, paths: StatePaths) -> list[Service]:
    """The stack's services, in start order."""
    return [
        KafkaService(settings, paths),
        RedisService(settings, paths),
        PostgresService(settings, paths),
    ]
