"""The store is configured in code; feature_store.yaml (for the `feast` CLI) must say the same."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from core.feast_store import repo_config
from core.settings import FEATURE_REPO_DIR, Settings


def test_the_yaml_for_the_feast_cli_matches_the_configuration_in_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from feast.repo_config import load_repo_config

    settings = Settings(
        redis_port=1234,
        redis_password=SecretStr("r-pass"),
        postgres_host="db.example",
        postgres_port=5433,
        postgres_password=SecretStr("p@ss"),
        postgres_schema="other",
    )
    for name, value in settings.feast_env().items():
        monkeypatch.setenv(name, value)
    from_yaml = load_repo_config(FEATURE_REPO_DIR, FEATURE_REPO_DIR / "feature_store.yaml")
    in_code = repo_config(settings)
    assert from_yaml.project == in_code.project
    assert from_yaml.entity_key_serialization_version == in_code.entity_key_serialization_version
    assert from_yaml.registry.path == in_code.registry.path
    assert from_yaml.registry.registry_type == in_code.registry.registry_type == "sql"
    assert from_yaml.registry.cache_ttl_seconds == in_code.registry.cache_ttl_seconds
    assert from_yaml.online_store.connection_string == in_code.online_store.connection_string
    assert from_yaml.offline_store.model_dump() == in_code.offline_store.model_dump()


def test_the_serving_store_refreshes_its_registry_off_the_request_path() -> None:
    assert repo_config(Settings(), refresh="thread").registry.cache_mode == "thread"
    assert repo_config(Settings()).registry.cache_mode == "sync"
