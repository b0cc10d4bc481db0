"""docs/deployment.md says what the deployment files and Feast actually have."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def doc(repo_root: Path) -> str:
    return (repo_root / "docs" / "deployment.md").read_text()


def test_service_table_matches_the_compose_file(doc: str, compose: Any) -> None:
    rows = re.findall(r"^\| `([a-z-]+)` \| `?([^`|]+?)`? \|", doc, flags=re.M)
    documented = dict(rows)
    expected = {
        name: "ours" if name in compose.ours() else service["image"]
        for name, service in compose.services.items()
    }
    assert documented == expected


def test_python_base_image_matches_the_dockerfile(doc: str, stages: list[Any]) -> None:
    assert f"`{stages[-1].image}`" in doc


# The Feast 0.67 names docs/deployment.md cites for the Redis online store.
_CITED_FIELDS = (
    "redis_type",
    "connection_string",
    "sentinel_master",
    "key_ttl_seconds",
    "full_scan_for_deletion",
    "skip_dedup",
)
_CITED_REDIS_TYPES = ("redis", "redis_cluster", "redis_sentinel")


def test_cited_feast_redis_settings_exist(doc: str) -> None:
    from feast.infra.online_stores.redis import RedisOnlineStoreConfig, RedisType

    assert "RedisOnlineStoreConfig" in doc
    for name in _CITED_FIELDS:
        assert f"`{name}`" in doc or f"{name}:" in doc, f"the doc no longer cites {name}"
        assert name in RedisOnlineStoreConfig.model_fields, f"Feast has no {name}"
    assert {t.value for t in RedisType} >= set(_CITED_REDIS_TYPES)
    assert "redis_type: redis_cluster" in doc
    # The doc says it must stay off: Feast's timestamp check is the at-least-once safety net.
    assert RedisOnlineStoreConfig().skip_dedup is False
