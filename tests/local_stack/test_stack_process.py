"""The stack's pid files (old and new format), its servers' environment and port checks."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from core.ports import port_is_free
from core.processes import ProcessIdentity
from core.supervisor import ChildProcess
from local_stack.pidfile import PidRecord, read_pid_file, write_pid_file
from local_stack.service import child_env


def test_pid_file_round_trip_and_garbage(tmp_path: Path) -> None:
    record = PidRecord(ProcessIdentity(123, 456.78), "127.0.0.1:9092")
    write_pid_file(tmp_path / "svc.pid", record)
    (tmp_path / "bad.pid").write_text("not a pid\n")
    (tmp_path / "short.pid").write_text("123\n")

    assert read_pid_file(tmp_path / "svc.pid") == record
    assert (tmp_path / "svc.pid").read_text().splitlines() == ["123", "456.78", "127.0.0.1:9092"]
    assert read_pid_file(tmp_path / "bad.pid") is None
    assert read_pid_file(tmp_path / "short.pid") is None
    assert read_pid_file(tmp_path / "missing.pid") is None


def test_a_pid_file_names_a_live_server_and_a_dead_one(tmp_path: Path) -> None:
    child = ChildProcess("server", ["sleep", "60"], env=child_env(), log_path=tmp_path / "s.log")
    child.start()
    assert child.identity is not None
    write_pid_file(tmp_path / "s.pid", PidRecord(child.identity, "127.0.0.1:1"))

    record = read_pid_file(tmp_path / "s.pid")
    assert record is not None and record.identity.is_alive()
    child.stop(5)
    assert not record.identity.is_alive()


def test_a_pid_file_of_the_old_format_still_names_its_server(tmp_path: Path) -> None:
    # Before the supervisor the second line was field 22 of /proc/<pid>/stat: clock ticks.
    ticks = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()[19]
    (tmp_path / "old.pid").write_text(f"{os.getpid()}\n{ticks}\n127.0.0.1:9092\n")

    record = read_pid_file(tmp_path / "old.pid")

    assert record is not None and record.identity.is_alive()
    assert record.identity == ProcessIdentity.of(os.getpid())


def test_servers_get_a_minimal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "elsewhere")
    env = child_env(HOME="/nonexistent")
    assert "PGHOST" not in env
    assert env["HOME"] == "/nonexistent" and env["LC_ALL"] == "C"


def test_port_is_free_sees_a_listener() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.listen()
        assert not port_is_free("127.0.0.1", port)
    deadline = time.monotonic() + 5
    while not port_is_free("127.0.0.1", port):
        assert time.monotonic() < deadline
        time.sleep(0.05)
