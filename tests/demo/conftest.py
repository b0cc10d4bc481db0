"""Fixtures of the demo tests: each demo gets a state dir and ports of its own."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from core.ports import free_ports
from core.settings import Settings


@pytest.fixture
def demo_settings() -> Iterator[Settings]:
    """A state dir and ports of its own, every host left at its default: the demo starts (and
    must stop) a whole stack."""
    from local_stack import LocalStack
    from local_stack.sysuser import scratch_state_dir

    base = scratch_state_dir("credit-test-demo-")
    kafka, redis, postgres, api, metrics = free_ports(5)
    settings = Settings(
        state_dir=base / "state",
        kafka_port=kafka,
        redis_port=redis,
        postgres_port=postgres,
        api_port=api,
        metrics_port=metrics,
    )
    try:
        yield settings
    finally:
        LocalStack(settings).down()  # in case the demo failed to
        shutil.rmtree(base, ignore_errors=True)
