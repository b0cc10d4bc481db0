"""Shared fixtures: a clean environment, and one real local stack per test session."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Iterator

import pytest

from credit_pipeline.settings import Settings


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _no_env_leakage(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's CREDIT_* variables must not change what a test sees."""
    for name in list(os.environ):
        if name.startswith("CREDIT_"):
            monkeypatch.delenv(name)


@contextlib.contextmanager
def _local_stack(name: str) -> Iterator[Settings]:
    """A real Tansu + Valkey + Postgres on free ports, stopped and removed afterwards."""
    from credit_pipeline.stack import LocalStack
    from credit_pipeline.stack.sysuser import scratch_state_dir

    # Not under pytest's tmp root: as root, Postgres runs as another user who cannot enter it.
    base = scratch_state_dir(f"credit-test-{name}-")
    settings = Settings(
        state_dir=base / "state",
        kafka_port=free_port(),
        redis_port=free_port(),
        postgres_port=free_port(),
    )
    stack = LocalStack(settings)
    stack.up()
    try:
        yield settings
    finally:
        stack.down()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def stack_settings() -> Iterator[Settings]:
    """The stack shared by the whole session (tests use unique topics and entity keys)."""
    with _local_stack("session") as settings:
        yield settings


@pytest.fixture(scope="module")
def private_stack_settings() -> Iterator[Settings]:
    """A stack of the test module's own, for tests that assert exact store contents."""
    with _local_stack("module") as settings:
        yield settings
