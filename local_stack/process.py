"""Processes of the stack: identity via /proc, pid files, spawning, stopping, port checks."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import subprocess
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

_POLL_SECONDS = 0.02


@dataclass(frozen=True)
class ProcessIdentity:
    """A pid plus its kernel start time, so a recycled pid is never mistaken for ours."""

    pid: int
    start_time: int  # field 22 of /proc/<pid>/stat: clock ticks after boot

    def is_alive(self) -> bool:
        """True while this very process (not a later one with the same pid) runs."""
        return proc_start_time(self.pid) == self.start_time


@dataclass(frozen=True)
class PidRecord:
    """What a pid file holds: who runs, and on which address it was started."""

    identity: ProcessIdentity
    address: str


def _read_stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces or ')'.
    return raw[raw.rfind(")") + 2 :].split()


def proc_start_time(pid: int) -> int | None:
    """Start time of a live process, or None if it is gone or a zombie."""
    fields = _read_stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):  # a zombie has exited already
        return None
    return int(fields[19])


def identify(pid: int) -> ProcessIdentity | None:
    """The identity of a live process."""
    start = proc_start_time(pid)
    return None if start is None else ProcessIdentity(pid, start)


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group is `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _read_stat_fields(int(entry.name))
        # fields[2] is the process group (field 5 of /proc/<pid>/stat).
        if fields is not None and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


# -- pid files -------------------------------------------------------------------------------


def write_pid_file(path: Path, record: PidRecord) -> None:
    """Write `pid`, start time and address, one per line (the first line alone is a pid file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{record.identity.pid}\n{record.identity.start_time}\n{record.address}\n")
    tmp.replace(path)  # atomic: a reader never sees half a file


def read_pid_file(path: Path) -> PidRecord | None:
    """The record in a pid file, or None if the file is missing or not ours."""
    try:
        lines = path.read_text().split()
        return PidRecord(ProcessIdentity(int(lines[0]), int(lines[1])), lines[2])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def remove_pid_file(path: Path) -> None:
    """Delete a pid file if present."""
    path.unlink(missing_ok=True)


# -- spawning --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunAs:
    """An unprivileged OS user to run a child as (only used when we are root)."""

    name: str
    uid: int
    gid: int
    home: str


def spawn(
    argv: list[str], *, log_path: Path, cwd: Path, env: dict[str, str], run_as: RunAs | None
) -> subprocess.Popen[bytes]:
    """Start a server in its own session, output appended to its log."""
    # extra_groups=[] drops root's supplementary groups instead of leaking them.
    uid = run_as.uid if run_as is not None else None
    gid = run_as.gid if run_as is not None else None
    groups: list[int] | None = [] if run_as is not None else None
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Own session and process group: no terminal signals reach it, and `down`
            # can kill the whole group so no worker is orphaned.
            start_new_session=True,
            close_fds=True,
            user=uid,
            group=gid,
            extra_groups=groups,
        )


def run_to_completion(
    argv: list[str],
    *,
    log_path: Path,
    cwd: Path,
    env: dict[str, str],
    run_as: RunAs | None,
    timeout: float,
) -> int:
    """Run a helper (e.g. initdb) with output appended to a log; return its exit code."""
    proc = spawn(argv, log_path=log_path, cwd=cwd, env=env, run_as=run_as)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def child_env(**extra: str) -> dict[str, str]:
    """A minimal environment: inherited PG*, LISTENER_URL, OTEL_* etc. must not steer servers."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C", "NO_COLOR": "1"}
    if "TZ" in os.environ:
        env["TZ"] = os.environ["TZ"]
    env.update(extra)
    return env


# -- stopping --------------------------------------------------------------------------------


def _reap(pid: int) -> None:
    """Collect an exited child of this process so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _wait_gone(identity: ProcessIdentity, deadline: float) -> bool:
    while True:
        _reap(identity.pid)
        if not identity.is_alive():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)


def stop(identity: ProcessIdentity, sig: signal.Signals, timeout: float) -> str:
    """Stop a process we started: `sig`, then SIGKILL to its group after `timeout`."""
    if not identity.is_alive():
        return "was not running"
    pid = identity.pid
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return "was not running"
    if _wait_gone(identity, time.monotonic() + timeout):
        outcome = f"stopped with {sig.name}"
    else:
        logger.warning(
            "pid %d ignored %s for %.1fs; sending SIGKILL to its group", pid, sig.name, timeout
        )
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        _wait_gone(identity, time.monotonic() + 5.0)
        outcome = f"killed with SIGKILL after {timeout:g}s"
    # The group id stays reserved while any member lives, so what remains in it is ours:
    # workers of a leader that died abruptly. Kill them rather than leave orphans.
    if group_members(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while group_members(pid) and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
    return outcome


# -- ports and logs --------------------------------------------------------------------------


def port_is_free(host: str, port: int) -> bool:
    """True if a server could listen on host:port now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR too, so TIME_WAIT leftovers of a past run don't count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def port_accepts(host: str, port: int, timeout: float) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_size(path: Path) -> int:
    """Current size of a log, to later show only what one start attempt wrote."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def log_tail(path: Path, *, since: int = 0, lines: int = 20) -> str:
    """The last `lines` lines written to a log after byte offset `since`."""
    try:
        with path.open("rb") as log:
            log.seek(since)
            tail = deque(log, maxlen=lines)
    except FileNotFoundError:
        return f"(no log at {path})"
    text = b"".join(tail).decode("utf-8", errors="replace").rstrip()
    return text or f"(nothing written to {path})"
