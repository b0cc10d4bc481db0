"""Configuration of the confluent-kafka clients: addresses from the settings, logs to `logging`."""

from __future__ import annotations

import logging
from typing import Any

from credit_pipeline.settings import Settings

# librdkafka's default is 5 minutes; a CLI user should hear about an unreachable broker
# within a minute, while a broker restart of a few seconds is still retried through.
DELIVERY_TIMEOUT_S = 60

# Every update must survive a broker failover (acks=all) and a retried request must not write
# twice (idempotence also keeps each partition in send order). linger.ms=5 fills batches at high
# rates for at most 5 ms of added latency. lz4 cut the bytes on the wire 4.5x (78 vs 354 per
# event, random updates) at the same throughput as no compression (measured on Tansu).
PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 5,
    "compression.type": "lz4",
    "message.timeout.ms": DELIVERY_TIMEOUT_S * 1000,
}

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


librdkafka_log = logging.getLogger("producers.librdkafka")
librdkafka_log.addFilter(_RepeatFilter())


def client_config(settings: Settings, role: str) -> dict[str, Any]:
    """Settings shared by every client: bootstrap address, client id, logger."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "client.id": f"credit-pipeline-{role}",
        # Without a logger librdkafka writes straight to stderr, past `logging`.
        "logger": librdkafka_log,
    }
