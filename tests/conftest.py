"""Shared fixtures: a clean environment, one real local stack per test session, and child
processes (`python -m stream_processor`, the API, the demo) run with a test's settings."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.ports import free_ports
from core.settings import REPO_ROOT, Settings, settings_env
from core.supervisor import ChildFailedError, ChildProcess


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
    # A shell without job control starts background jobs with SIGINT ignored, and an ignored
    # signal stays ignored in every child: the Ctrl-C tests would then test the launcher. Give
    # this process (and so its children) Ctrl-C as a terminal user has it.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
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
    kafka, redis, postgres = free_ports(3)
    settings = Settings(
        state_dir=base / "state", kafka_port=kafka, redis_port=redis, postgres_port=postgres
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


# -- child processes ---------------------------------------------------------------------------


def child_env(settings: Settings) -> dict[str, str]:
    """The environment of a child process that rebuilds exactly `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_")}
    env.update(settings_env(settings))
    return env


class PythonProcess:
    """`python ARGS` with a test's settings, in its own session, its output in a log file."""

    def __init__(self, settings: Settings, log_path: Path, *args: str) -> None:
        self.settings = settings
        self.log_path = log_path
        name = " ".join(["python", *args])
        argv = [sys.executable, *args]
        env = child_env(settings)
        self.child = ChildProcess(name, argv, env=env, cwd=REPO_ROOT, log_path=log_path).start()

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        return self.child.popen

    @property
    def pid(self) -> int:
        return self.child.pid

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(
        self, check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1
    ) -> Any:
        """Until `check()` is truthy; fails the test (with the log) if the child exits first."""
        try:
            return self.child.wait_ready(check, timeout, what, interval=interval)
        except ChildFailedError as exc:
            pytest.fail(str(exc))

    def check_running(self) -> None:
        """Fail the test, with the tail of its log, if the child has exited."""
        if not self.child.is_running():
            pytest.fail(
                f"{self.child.name} {self.child.describe_exit()}; last lines of "
                f"{self.log_path}:\n{self.child.log_tail()}"
            )

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        self.wait_for(lambda: text in self.log, timeout, f"{text!r} in its log")

    def wait_ready(self, timeout: float = 90, partitions: int | None = None) -> None:
        """A processor: until the worker has `partitions` (default: all of its topics)."""
        from core.topics import consumed_topics  # imports Feast: not before a test needs it

        self.wait_for_log("stream processor ready", timeout)
        every = len(consumed_topics(self.settings)) * self.settings.topic_partitions
        expected = every if partitions is None else partitions
        self.wait_for_log(f"assigned {expected} partitions", timeout)

    def metric(self, name: str, **labels: str) -> float:
        """A sample from the worker's Prometheus endpoint (0 when absent)."""
        return self.metric_at(self.settings.metrics_port, name, **labels)

    def metric_at(self, port: int, name: str, **labels: str) -> float:
        """A sample from the Prometheus endpoint on `port` (worker i of N: base port + i)."""
        from prometheus_client.parser import text_string_to_metric_families

        url = f"http://127.0.0.1:{port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        return 0.0

    def signal(self, sig: signal.Signals) -> None:
        self.child.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        code = self.child.wait(timeout)
        if code is None:
            pytest.fail(f"{self.child.name} did not exit within {timeout} s:\n{self.log[-3000:]}")
        return code

    def stop(self, grace: float = 30) -> None:
        """SIGTERM, SIGKILL to its whole group after `grace` s (0: at once), and reap it."""
        self.child.stop(grace, signal.SIGKILL if grace <= 0 else None)


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A loopback port this test process listens on (taken, with a known holder)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


# Libraries that take seconds to import: a command that only describes, lists or asks a
# running service must not import them.
HEAVY_LIBRARIES = ("feast", "pandas", "sklearn", "joblib", "faust", "pyarrow")
_RUN_AND_LIST_HEAVY = """
import json, sys
from credit_pipeline.cli import main
sys.argv = ["credit-pipeline", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("HEAVY=" + json.dumps(heavy))
"""


def run_cli_listing_heavy(
    env: dict[str, str], *argv: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`credit-pipeline ARGV` in a fresh interpreter; its result and the heavy libraries it
    imported (this test process imported them long ago)."""
    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_HEAVY.format(heavy=HEAVY_LIBRARIES), *argv],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    marker = [line for line in done.stdout.splitlines() if line.startswith("HEAVY=")]
    assert marker, done.stdout + done.stderr
    return done, json.loads(marker[0].removeprefix("HEAVY="))


@pytest.fixture(scope="session")
def cli_listing_heavy() -> Callable[..., tuple[subprocess.CompletedProcess[str], list[str]]]:
    """`cli_listing_heavy(env, *argv)`: see run_cli_listing_heavy."""
    return run_cli_listing_heavy


@pytest.fixture(scope="session")
def start_python() -> Callable[..., PythonProcess]:
    """`start_python(settings, log_path, *args)`: `python ARGS`; the caller stops it."""
    return PythonProcess


@pytest.fixture(scope="session")
def start_processor() -> Callable[..., PythonProcess]:
    """`start_processor(settings, log_path, *args)`: `python -m stream_processor ARGS` with
    these settings, its log in `log_path`; the caller stops it (`stop`)."""

    def start(settings: Settings, log_path: Path, *args: str) -> PythonProcess:
        return PythonProcess(settings, log_path, "-m", "stream_processor", *args)

    return start
