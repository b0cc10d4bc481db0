"""The Feast store of this repository, configured in code from the settings.

One opener for every process. `feature_repo/feature_store.yaml` says the same for people who
run the `feast` CLI by hand; tests/core/test_feast_store.py checks the two agree.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

from core.settings import FEATURE_REPO_DIR, Settings

if TYPE_CHECKING:
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

log = logging.getLogger(__name__)

PROJECT = "credit_scoring"
# How often a process re-reads the registry from Postgres (feature views rarely change).
REGISTRY_CACHE_TTL_SECONDS = 60

RegistryRefresh = Literal["sync", "thread"]


def redis_connection_string(settings: Settings) -> str:
    """Feast's `host:port[,password=...]` form of the Redis address."""
    address = settings.redis_address
    if settings.redis_password is not None:
        address += f",password={settings.redis_password.get_secret_value()}"
    return address


def repo_config_fields(settings: Settings, refresh: RegistryRefresh = "sync") -> dict[str, Any]:
    """The store's configuration as plain data (what feature_store.yaml would hold)."""
    return {
        "project": PROJECT,
        "provider": "local",
        # The registry lives in Postgres, not in a file: every process that reads the feature
        # definitions (N processor workers, API workers, the containers of docker compose) sees
        # the same registry without sharing a filesystem.
        "registry": {
            "registry_type": "sql",
            "path": settings.postgres_dsn(driver="postgresql+psycopg"),
            "cache_ttl_seconds": REGISTRY_CACHE_TTL_SECONDS,
            "cache_mode": refresh,
            "sqlalchemy_config_kwargs": {"pool_pre_ping": True},
        },
        "online_store": {"type": "redis", "connection_string": redis_connection_string(settings)},
        "offline_store": {
            "type": "postgres",
            "host": settings.postgres_host,
            "port": settings.postgres_port,
            "database": settings.postgres_db,
            "db_schema": settings.postgres_schema,
            "user": settings.postgres_user,
            "password": settings.postgres_password.get_secret_value(),
            "sslmode": "disable",
        },
        "entity_key_serialization_version": 3,
    }


def repo_config(settings: Settings, refresh: RegistryRefresh = "sync") -> RepoConfig:
    """Feast's RepoConfig for `settings`, built without a yaml file or the environment."""
    from feast.repo_config import RepoConfig

    return RepoConfig(repo_path=FEATURE_REPO_DIR, **repo_config_fields(settings, refresh))


def open_store(settings: Settings, refresh: RegistryRefresh = "sync") -> FeatureStore:
    """A FeatureStore on this repository; build it once per process and share it.

    `refresh="thread"` re-reads the registry on a daemon thread every cache period instead of
    inside a read that finds the cache expired (the scoring API: a read never waits for
    Postgres).
    """
    # Imported here: `import feast` costs ~5 s, and commands that never touch Feast skip it.
    from feast import FeatureStore

    return FeatureStore(repo_path=str(FEATURE_REPO_DIR), config=repo_config(settings, refresh))


def apply_definitions(store: FeatureStore) -> None:
    """Register every entity, source, view and service of the contract (idempotent)."""
    from core.contract import feast_objects

    objects = feast_objects()
    store.apply(objects)
    log.info("applied %d Feast objects to project %s", len(objects), store.project)
