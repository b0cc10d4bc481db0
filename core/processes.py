"""Processes by identity: pid + create time (psutil), and stopping a process with a grace
period then SIGKILL to its whole process group. The base of core/supervisor.py; the local stack
uses it directly for the servers its pid files name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

_POLL_S = 0.02
_KILL_WAIT_S = 5.0  # after SIGKILL: the kernel, not the child, decides how long this takes


@dataclass(frozen=True)
class RunAs:
    """An unprivileged OS user to run a child as (the embedded Postgres, when we are root)."""

    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class ProcessIdentity:
    """A pid plus the create time of the process that has it.

    The create time is psutil's, counted from boot rather than from the epoch: a change of
    the system clock moves the epoch value (psutil adds the boot time as the clock sees it
    now), never the time since boot. 1/100 s resolution, as the kernel keeps it.
    """

    pid: int
    create_time: float

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity | None:
        """The identity of the live process `pid` (None if there is none, or a zombie)."""
        try:
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE:  # it has exited already
                return None
            while True:
                boot = psutil.boot_time()
                created = process.create_time() - boot
                if psutil.boot_time() == boot:  # the clock did not step in between
                    return cls(pid, round(created, 2))
        except psutil.Error:
            return None

    def is_alive(self) -> bool:
        """True while this very process, not a later one with the same pid, runs."""
        return ProcessIdentity.of(self.pid) == self


def describe_exit(code: int | None) -> str:
    """How a process ended, from its exit status (negative: the signal that killed it)."""
    if code is None:
        return "is running"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group `pgid`."""
    members = []
    for process in psutil.process_iter(["status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            if process.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(process.pid) == pgid:
                members.append(process.pid)
    return members


def _wait_until(done: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_S)
    return True


def _reaped_or_alive(identity: ProcessIdentity) -> bool:
    # If it is a child of ours (started by another object of this process), collect its exit
    # status once it ends: a zombie keeps its pid taken (Postgres' lock file names it). Look
    # first, reap after: reaping first missed a child that died in between, left a zombie.
    if identity.is_alive():
        return True
    with contextlib.suppress(ChildProcessError):
        os.waitpid(identity.pid, os.WNOHANG)
    return False


def _send(pid: int, sig: signal.Signals, *, group: bool) -> None:
    if group:
        os.killpg(pid, sig)
    else:
        os.kill(pid, sig)


def stop_process(
    identity: ProcessIdentity,
    sig: signal.Signals,
    grace: float,
    *,
    own_group: bool = True,
    signal_group: bool = False,
    alive: Callable[[], bool] | None = None,
) -> str:
    """Stop a process: `sig` (to it, or to its group), SIGKILL after `grace` s; say what happened.

    For a process that leads its own group (`own_group`: started in its own session), the
    SIGKILL goes to the whole group, and whatever is left in the group afterwards (workers of
    a leader that died abruptly) is killed too, unless the pid now belongs to another process.
    `alive` replaces the identity check, e.g. with the poll (and reaping) of our own child.
    """
    is_alive = alive or (lambda: _reaped_or_alive(identity))
    group = own_group and identity.pid != os.getpgrp()  # never our own group
    pid = identity.pid
    if not is_alive():
        outcome = "was not running"
    else:
        try:
            _send(pid, sig, group=group and signal_group)
        except ProcessLookupError:
            return "was not running"
        if _wait_until(lambda: not is_alive(), grace):
            outcome = f"stopped with {sig.name}"
        else:
            with contextlib.suppress(ProcessLookupError):
                _send(pid, signal.SIGKILL, group=group)
            _wait_until(lambda: not is_alive(), _KILL_WAIT_S)
            outcome = f"killed with SIGKILL after {grace:g}s"
    # A pid stays taken while it names a live group, so members of group `pid` are ours unless
    # a new process has the pid (our leader and its whole group ended, then the pid was reused).
    current = ProcessIdentity.of(pid)
    if group and (current is None or current == identity) and group_members(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        _wait_until(lambda: not group_members(pid), _KILL_WAIT_S)
    return outcome
