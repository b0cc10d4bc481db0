"""The child-process supervisor against real child processes (`python -c` and `sh -c` scripts)."""

from __future__ import annotations

import os
import pwd
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from core.processes import ProcessIdentity, group_members, stop_process
from core.supervisor import (
    ChildExitedError,
    ChildNotReadyError,
    ChildProcess,
    RestartPolicy,
    RunAs,
    log_tail,
)


def python(name: str, code: str, log: Path, **options: object) -> ChildProcess:
    return ChildProcess(name, [sys.executable, "-c", code], log_path=log, **options).start()  # type: ignore[arg-type]


def until(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# -- readiness -----------------------------------------------------------------------------


def test_wait_ready_returns_what_the_probe_found_and_the_log_is_appended(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    log.write_text("an earlier run\n")
    code = "import time; print('ready now', flush=True); time.sleep(60)"
    child = python("sleeper", code, log)
    try:
        found = child.wait_ready(lambda: "ready" in child.log_text() and "yes", 10, "ready")

        assert found == "yes"
        assert child.is_running() and child.poll() is None
        assert child.log_text().startswith("an earlier run\n")  # appended, not truncated
        assert child.log_tail() == "ready now"  # this start's output only
        assert os.getpgid(child.pid) == child.pid  # its own process group (own session)
        assert os.getsid(child.pid) == child.pid
        assert child.identity is not None and child.identity.is_alive()
    finally:
        assert child.stop(5) == "stopped with SIGTERM"
    assert child.poll() == -signal.SIGTERM


def test_a_child_that_exits_before_it_is_ready_fails_at_once_with_its_log(
    tmp_path: Path,
) -> None:
    code = "import sys; print('cannot bind the port', flush=True); sys.exit(3)"
    child = python("server", code, tmp_path / "server.log")
    started = time.monotonic()

    with pytest.raises(ChildExitedError) as caught:
        child.wait_ready(lambda: False, 60, "its port")

    assert time.monotonic() - started < 10  # not the whole timeout
    message = str(caught.value)
    assert message.startswith("server exited with code 3 before its port")
    assert "server.log" in message and "cannot bind the port" in message
    assert child.wait() == 3


def test_a_child_that_never_gets_ready_times_out_with_its_log(tmp_path: Path) -> None:
    code = "import time; print('still warming up', flush=True); time.sleep(60)"
    child = python("slow", code, tmp_path / "slow.log")
    try:
        until(lambda: "warming" in child.log_text())
        with pytest.raises(ChildNotReadyError, match=r"slow: no answer within 0.3 s") as caught:
            child.wait_ready(lambda: None, 0.3, "answer")
        assert "still warming up" in str(caught.value)
        assert child.wait(0.1) is None  # still running
    finally:
        child.stop(5)


# -- stopping ------------------------------------------------------------------------------


def stubborn(tmp_path: Path) -> ChildProcess:
    """A leader that ignores SIGTERM, with a worker child in its process group (both up)."""
    script = "trap '' TERM; sleep 60 & echo started; wait"
    child = ChildProcess("stubborn", ["/bin/sh", "-c", script], log_path=tmp_path / "s.log")
    child.start()
    until(lambda: len(group_members(child.pid)) == 2)
    return child


def test_a_child_ignoring_sigterm_is_killed_with_its_group_after_the_grace(
    tmp_path: Path,
) -> None:
    child = stubborn(tmp_path)
    members = group_members(child.pid)
    started = time.monotonic()

    outcome = child.stop(grace=0.5)

    assert outcome == "killed with SIGKILL after 0.5s"
    assert time.monotonic() - started >= 0.5
    assert group_members(child.pid) == []
    assert not any(alive(pid) for pid in members)
    assert child.poll() == -signal.SIGKILL  # reaped, no zombie left
    assert child.identity is not None and not child.identity.is_alive()


def test_a_process_known_only_by_its_identity_is_stopped_with_its_group(
    tmp_path: Path,
) -> None:
    # As `stack down` stops a server an earlier `stack up` started: from its pid file.
    child = stubborn(tmp_path)
    assert child.identity is not None

    outcome = stop_process(child.identity, signal.SIGTERM, 0.3)

    assert outcome == "killed with SIGKILL after 0.3s"
    assert group_members(child.pid) == []
    # Our child after all: reaped, not left a zombie whose pid stays taken.
    assert not psutil.pid_exists(child.pid)
    assert stop_process(child.identity, signal.SIGTERM, 0.3) == "was not running"


def test_what_a_dead_leader_left_in_its_group_is_killed(tmp_path: Path) -> None:
    # The leader exits at once; its worker lives on in the group.
    child = ChildProcess("leader", ["/bin/sh", "-c", "sleep 60 & echo $!"], log_path=tmp_path / "l")
    child.start()
    assert child.wait(10) == 0
    worker = int(child.log_text().split()[0])
    assert alive(worker) and os.getpgid(worker) == child.pid

    assert child.stop(5) == "was not running"

    assert not alive(worker)
    assert group_members(child.pid) == []


def test_the_stop_signal_can_go_to_the_whole_group(tmp_path: Path) -> None:
    script = "sleep 60 & echo $!; wait"
    child = ChildProcess(
        "group", ["/bin/sh", "-c", script], log_path=tmp_path / "g.log", signal_group=True
    ).start()
    until(lambda: child.log_text().strip())
    worker = int(child.log_text().split()[0])

    assert child.stop(10, signal.SIGINT) == "stopped with SIGINT"
    assert not alive(worker)


def test_a_child_in_our_group_is_stopped_alone(tmp_path: Path) -> None:
    child = python("worker", "import time; time.sleep(60)", tmp_path / "w.log", new_session=False)
    assert os.getpgid(child.pid) == os.getpgrp()  # a signal to our group reaches it

    assert child.stop(5) == "stopped with SIGTERM"  # and we are still here
    assert child.poll() == -signal.SIGTERM


def test_die_with_parent_ends_a_child_whose_parent_is_killed(tmp_path: Path) -> None:
    code = (
        "import sys, time\n"
        "from core.supervisor import ChildProcess\n"
        "child = ChildProcess('orphan', [sys.executable, '-c', 'import time; time.sleep(60)'],"
        " die_with_parent=True).start()\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = python("parent", code, tmp_path / "p.log", cwd=Path(__file__).parents[2])
    try:
        until(lambda: parent.log_text().strip())
        grandchild = int(parent.log_text().split()[0])
        assert alive(grandchild)

        os.kill(parent.pid, signal.SIGKILL)

        until(lambda: not alive(grandchild))
    finally:
        parent.stop(5)


@pytest.mark.skipif(os.geteuid() != 0, reason="starting a child as another user needs root")
def test_a_child_runs_as_another_user(tmp_path: Path) -> None:
    entry = pwd.getpwnam("nobody")
    user = RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)
    # /bin/sh: this venv's interpreter may sit under root's own 0700 home.
    argv = ["/bin/sh", "-c", "echo $(id -u) $(id -g) $(id -G)"]
    log = tmp_path / "u.log"  # opened by us: the child needs no right to it
    child = ChildProcess("unprivileged", argv, log_path=log, cwd=Path("/"), run_as=user).start()

    assert child.wait(10) == 0
    # Only its own group: none of root's supplementary groups.
    assert child.log_text().split() == [str(user.uid), str(user.gid), str(user.gid)]


# -- identity ------------------------------------------------------------------------------


def test_identity_tells_a_recycled_pid_apart() -> None:
    me = ProcessIdentity.of(os.getpid())

    assert me is not None and me.is_alive()
    assert ProcessIdentity.of(os.getpid()) == me  # stable: the same process, the same identity
    # The same pid with another create time is another process: a pid reused since.
    recycled = ProcessIdentity(me.pid, me.create_time - 1)
    assert not recycled.is_alive()
    assert ProcessIdentity.of(2**22 + 1) is None  # above pid_max: never exists


def test_a_recycled_pid_is_never_signalled() -> None:
    # Our own pid, as if a pid file named a process that had it before us.
    stranger = ProcessIdentity(os.getpid(), 1.0)

    assert stop_process(stranger, signal.SIGKILL, 0.1) == "was not running"
    assert stop_process(stranger, signal.SIGKILL, 0.1, signal_group=True) == "was not running"


def test_an_exited_child_loses_its_identity(tmp_path: Path) -> None:
    child = python("brief", "pass", tmp_path / "b.log")
    assert child.identity is not None
    identity = child.identity
    until(lambda: not identity.is_alive())  # a zombie (not reaped yet) does not count
    assert child.wait(5) == 0
    assert ProcessIdentity.of(identity.pid) is None or not identity.is_alive()


# -- restarts and logs -----------------------------------------------------------------------


def test_restart_policy_backs_off_and_gives_up() -> None:
    policy = RestartPolicy(max_exits=5, window=300, fatal_codes=frozenset({2}))

    delays = [policy.record_exit(1, now) for now in (0.0, 10.0, 20.0, 30.0)]
    assert delays == [1.0, 2.0, 4.0, 8.0]
    assert policy.record_exit(-9, 40.0) is None  # the fifth exit within 5 minutes

    calm = RestartPolicy(max_exits=5, window=300)
    assert [calm.record_exit(1, t) for t in (0.0, 400.0, 800.0)] == [1.0, 1.0, 1.0]
    assert RestartPolicy(fatal_codes=frozenset({2})).record_exit(2, 0.0) is None
    many = RestartPolicy(max_exits=100)
    assert [many.record_exit(1, float(t)) for t in range(8)][-3:] == [30.0, 30.0, 30.0]


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
