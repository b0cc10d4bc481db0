"""Process identity, pid files, stopping with escalation, port checks and log tails."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from local_stack.process import (
    PidRecord,
    ProcessIdentity,
    child_env,
    group_members,
    identify,
    log_tail,
    port_is_free,
    read_pid_file,
    spawn,
    stop,
    write_pid_file,
)


def test_identity_tells_a_recycled_pid_apart() -> None:
    me = identify(os.getpid())

    assert me is not None and me.is_alive()
    assert not ProcessIdentity(me.pid, me.start_time + 1).is_alive()  # same pid, other process
    assert identify(2**22 + 1) is None  # above pid_max: never exists


def test_pid_file_round_trip_and_garbage(tmp_path: Path) -> None:
    record = PidRecord(ProcessIdentity(123, 456), "127.0.0.1:9092")
    write_pid_file(tmp_path / "svc.pid", record)
    (tmp_path / "bad.pid").write_text("not a pid\n")

    assert read_pid_file(tmp_path / "svc.pid") == record
    assert (tmp_path / "svc.pid").read_text().splitlines()[0] == "123"  # plain pid on line 1
    assert read_pid_file(tmp_path / "bad.pid") is None
    assert read_pid_file(tmp_path / "missing.pid") is None


def test_stop_escalates_to_sigkill_of_the_whole_group(tmp_path: Path) -> None:
    # A leader that ignores SIGTERM, with a worker child in its process group.
    script = "trap '' TERM; sleep 60 & wait"
    proc = spawn(
        ["/bin/sh", "-c", script],
        log_path=tmp_path / "x.log",
        cwd=tmp_path,
        env=child_env(),
        run_as=None,
    )
    identity = identify(proc.pid)
    assert identity is not None
    deadline = time.monotonic() + 5
    while len(group_members(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(group_members(proc.pid)) == 2

    outcome = stop(identity, signal.SIGTERM, timeout=0.3)

    assert outcome.startswith("killed")
    assert group_members(proc.pid) == []
    assert not identity.is_alive()
    proc.wait(timeout=5)  # already reaped by `stop`: returns at once


def test_stop_of_a_process_that_is_gone() -> None:
    assert stop(ProcessIdentity(os.getpid(), 1), signal.SIGTERM, 0.1) == "was not running"


def test_port_is_free_sees_a_listener() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.listen()
        assert not port_is_free("127.0.0.1", port)
    assert port_is_free("127.0.0.1", port)


def test_log_tail_shows_only_the_last_lines_since_an_offset(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    log.write_text("old run\n")
    offset = log.stat().st_size
    with log.open("a") as out:
        out.writelines(f"line {i}\n" for i in range(30))

    tail = log_tail(log, since=offset, lines=20)

    assert tail.splitlines() == [f"line {i}" for i in range(10, 30)]
    assert "old run" not in log_tail(log, since=offset, lines=100)
    assert "no log" in log_tail(tmp_path / "missing.log")
