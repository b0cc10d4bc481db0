"""Connection URLs of the stack's services, for scripts and tests."""

from __future__ import annotations

from core.settings import Settings

MASK = "***"


def mask_password(url: str) -> str:
    """`url` with the password of its user info (if any) replaced by `***`."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, path = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    if not at or not colon:
        return url
    return f"{scheme}://{user}:{MASK}@{hostport}{slash}{path}"


def connection_urls(settings: Settings, *, show_secrets: bool = False) -> dict[str, dict[str, str]]:
    """JSON-able URLs of Kafka, Redis and Postgres, passwords masked unless `show_secrets`
    (with them, a program can connect with the URLs: never log or print those)."""
    redis_url = settings.redis_url
    postgres_url = settings.postgres_dsn()
    if not show_secrets:
        redis_url, postgres_url = mask_password(redis_url), mask_password(postgres_url)
    return {
        "kafka": {"bootstrap_servers": settings.kafka_bootstrap_servers},
        "redis": {"url": redis_url},
        "postgres": {"url": postgres_url},
    }


def secrets(settings: Settings) -> list[str]:
    """The stack's passwords as set (empty ones left out), for scrubbing free text."""
    values = [settings.postgres_password.get_secret_value()]
    if settings.redis_password is not None:
        values.append(settings.redis_password.get_secret_value())
    return [value for value in values if value]


def scrub(text: str, settings: Settings) -> str:
    """`text` with every password of the stack replaced by `***`."""
    for value in sorted(secrets(settings), key=len, reverse=True):
        text = text.replace(value, MASK)
    return text
