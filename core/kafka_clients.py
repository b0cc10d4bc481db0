"""What every confluent-kafka client of the pipeline shares: address, client id, logging."""

from __future__ import annotations

import logging
from typing import Any

from core.settings import Settings

_MAX_REMEMBERED = 1_000


class _RepeatFilter(logging.Filter):
    """Passes each librdkafka message once per client: a down broker repeats it every 50 ms."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[tuple[object, ...]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        # confluent-kafka logs `"%s [%s] %s" % (facility, client name, text)`.
        key = tuple(record.args) if isinstance(record.args, tuple) else (record.getMessage(),)
        if key in self._seen:
            return False
        if len(self._seen) >= _MAX_REMEMBERED:
            self._seen.clear()
        self._seen.add(key)
        return True


librdkafka_log = logging.getLogger("core.librdkafka")
librdkafka_log.addFilter(_RepeatFilter())


def client_config(settings: Settings, role: str) -> dict[str, Any]:
    """Settings shared by every client: bootstrap address, client id, logger."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "client.id": f"credit-pipeline-{role}",
        # Without a logger librdkafka writes straight to stderr, past `logging`.
        "logger": librdkafka_log,
    }
