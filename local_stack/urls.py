"""Connection URLs of the stack's services, for scripts and tests."""

from __future__ import annotations

from core.settings import Settings


def connection_urls(settings: Settings) -> dict[str, dict[str, str]]:
    """JSON-able URLs of Kafka, Redis and Postgres (includes the dev password: never log it)."""
    return {
        "kafka": {"bootstrap_servers": settings.kafka_bootstrap_servers},
        "redis": {"url": settings.redis_url},
        "postgres": {"url": settings.postgres_dsn()},
    }
