"""Shared fixtures: a clean environment, and one real local stack per test session."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Iterator

import pytest

from core.settings import Settings


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--stack",
        choices=("local", "docker"),
        default="local",
        help="services of the integration tests: the embedded local stack (default) or "
        "testcontainers (Apache Kafka, Valkey, Postgres; needs a Docker engine)",
    )
    parser.addoption(
        "--reliability-report",
        metavar="PATH",
        default=None,
        help="write the fault suite's figures (tests/stream_processor/test_faults.py) into "
        "the table of PATH (docs/reliability.md)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--stack") == "docker":
        try:
            import docker

            docker.from_env().ping()
        except Exception as exc:  # any failure means: no engine to talk to
            raise pytest.UsageError(
                f"--stack=docker needs a running Docker engine ({type(exc).__name__}: {exc}); "
                "run without it to use the embedded local stack"
            ) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--stack") != "docker":
        return
    skip = pytest.mark.skip(reason="stops and restarts servers of the embedded local stack by pid")
    for item in items:
        if "local_stack_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_env_leakage(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's CREDIT_* variables must not change what a test sees."""
    for name in list(os.environ):
        if name.startswith("CREDIT_"):
            monkeypatch.delenv(name)


@contextlib.contextmanager
def _local_stack(name: str) -> Iterator[Settings]:
    """A real Tansu + Valkey + Postgres on free ports, stopped and removed afterwards."""
    from local_stack import LocalStack
    from local_stack.sysuser import scratch_state_dir

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


@contextlib.contextmanager
def _docker_stack() -> Iterator[Settings]:
    """The same services as containers (testcontainers), images as in docker-compose.yml."""
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.community.valkey import ValkeyContainer

    password = "credit-dev-only"  # dev-only credential of a throwaway container
    with (
        KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft() as kafka,
        ValkeyContainer("valkey/valkey:9.1.1-alpine") as valkey,
        PostgresContainer(
            "postgres:18.6-alpine", username="credit", password=password, dbname="credit"
        ) as postgres,
    ):
        kafka_host, kafka_port = kafka.get_bootstrap_server().rsplit(":", 1)
        yield Settings(
            stack="external",
            kafka_host=kafka_host,
            kafka_port=int(kafka_port),
            redis_host=valkey.get_container_host_ip(),
            redis_port=int(valkey.get_exposed_port(6379)),
            postgres_host=postgres.get_container_host_ip(),
            postgres_port=int(postgres.get_exposed_port(5432)),
            postgres_password=password,
        )


def _stack(
    request: pytest.FixtureRequest, name: str
) -> contextlib.AbstractContextManager[Settings]:
    if request.config.getoption("--stack") == "docker":
        return _docker_stack()
    return _local_stack(name)


@pytest.fixture(scope="session")
def stack_settings(request: pytest.FixtureRequest) -> Iterator[Settings]:
    """The stack shared by the whole session (tests use unique topics and entity keys)."""
    with _stack(request, "session") as settings:
        yield settings


@pytest.fixture(scope="module")
def private_stack_settings(request: pytest.FixtureRequest) -> Iterator[Settings]:
    """A stack of the test module's own, for tests that assert exact store contents."""
    with _stack(request, "module") as settings:
        yield settings
