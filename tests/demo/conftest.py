"""Fixtures of the demo tests: each demo gets a state dir and ports of its own."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from core.settings import Settings
from tests.conftest import free_port


@pytest.fixture
def demo_settings() -> Iterator[Settings]:
    """A state dir and ports of its own, every host left at its default: the demo starts (and
    must stop) a whole stack."""
    from local_stack import LocalStack
    from local_stack.sysuser import scratch_state_dir

    base = scratch_state_dir("credit-test-demo-")
    settings = Settings(
        state_dir=base / "state",
        kafka_port=free_port(),
        redis_port=free_port(),
        postgres_port=free_port(),
        api_port=free_port(),
        metrics_port=free_port(),
    )
    try:
        yield settings
    finally:
        LocalStack(settings).down()  # in case the demo failed to
        shutil.rmtree(base, ignore_errors=True)
