"""One-shot health probes: does the service really answer its own protocol?"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from core.ports import port_accepts

logger = logging.getLogger(__name__)
# librdkafka's own log lines (connect failures etc.) go through Python logging, not stderr.
_librdkafka_logger = logging.getLogger("local_stack.librdkafka")


@dataclass(frozen=True)
class Probe:
    """Result of one probe; `fatal` means retrying cannot help (e.g. a wrong password)."""

    ok: bool
    detail: str
    fatal: bool = False


def probe_kafka(host: str, port: int, timeout: float) -> Probe:
    """List the cluster metadata with a confluent_kafka AdminClient."""
    # A plain connect first: cheap, and spares librdkafka's retry noise on a closed port.
    if not port_accepts(host, port, min(timeout, 1.0)):
        return Probe(False, f"nothing accepts connections on {host}:{port}")
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    config: dict[str, Any] = {
        "bootstrap.servers": f"{host}:{port}",
        "socket.timeout.ms": max(int(timeout * 1000), 100),
        "logger": _librdkafka_logger,
    }
    admin = AdminClient(config)
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        return Probe(False, f"metadata request failed: {exc.args[0]}")
    return Probe(True, f"{len(metadata.brokers)} broker(s), {len(metadata.topics)} topic(s)")


def probe_redis(url: str, host: str, port: int, timeout: float) -> Probe:
    """PING (and read the version) with redis-py."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
        info: Any = client.info("server")
    except redis.AuthenticationError as exc:
        return Probe(False, f"authentication failed ({exc}); check CREDIT_REDIS_PASSWORD", True)
    except redis.BusyLoadingError:
        return Probe(False, "still loading its data set")
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            return Probe(False, f"{exc}; set CREDIT_REDIS_PASSWORD", True)
        return Probe(False, f"error reply: {exc}")
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        return Probe(False, f"cannot connect to {host}:{port}: {exc}")
    finally:
        client.close()
    version = info.get("valkey_version") or info.get("redis_version", "?")
    name = "Valkey" if "valkey_version" in info else "Redis"
    return Probe(True, f"{name} {version}")


# Errors no amount of waiting fixes; the hint says what to do instead.
_PG_FATAL = {
    "password authentication failed": "the password differs from CREDIT_POSTGRES_PASSWORD",
    "does not exist": "the role or database is missing",
    "no pg_hba.conf entry": "the server refuses this client address",
}


def probe_postgres(connect_kwargs: dict[str, Any], timeout: float) -> Probe:
    """Connect and run SELECT 1 with psycopg2."""
    import psycopg2

    kwargs = dict(connect_kwargs, connect_timeout=max(1, round(timeout)))
    try:
        conn = psycopg2.connect(**kwargs)
    except psycopg2.OperationalError as exc:
        message = " ".join(str(exc).split())
        for needle, hint in _PG_FATAL.items():
            if needle in message:
                return Probe(False, f"{message} ({hint})", True)
        return Probe(False, message)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1, current_setting('server_version')")
            row = cur.fetchone()
    except psycopg2.Error as exc:
        return Probe(False, f"SELECT 1 failed: {exc}")
    finally:
        conn.close()
    version = row[1] if row else "?"
    return Probe(True, f"PostgreSQL {version}, database {kwargs['dbname']!r}")
