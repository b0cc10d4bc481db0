"""Child processes, supervised: how the stack, `demo`, `process --workers`, the benchmarks and
the tests run another process.

A ChildProcess runs in its own session with its output appended to a log file (as another user
if asked), is known by pid + create time (psutil: a recycled pid is never taken for it), is
awaited with a readiness probe that fails with its log's tail if it exits, and is stopped with a
signal, a grace period, then SIGKILL to its whole process group. A RestartPolicy says when a
child that must keep running is started again, and when to give up.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, overload

from core.errors import CreditPipelineError
from core.processes import ProcessIdentity, RunAs, describe_exit, stop_process

__all__ = [
    "ChildExitedError",
    "ChildFailedError",
    "ChildNotReadyError",
    "ChildProcess",
    "ProcessIdentity",
    "RestartPolicy",
    "RunAs",
    "describe_exit",
    "log_size",
    "log_tail",
    "stop_process",
]

T = TypeVar("T")

_TAIL_LINES = 30


class ChildFailedError(CreditPipelineError):
    """A child exited, or did not get ready in time; the message ends with its log's tail."""


class ChildExitedError(ChildFailedError):
    """The child exited while it was awaited."""


class ChildNotReadyError(ChildFailedError):
    """The readiness probe did not pass within the timeout."""


def log_size(path: Path) -> int:
    """Current size of a log, to show later only what came after."""
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


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    """SIGTERM to this child when the thread that started it ends (Linux PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


@dataclass(eq=False)
class ChildProcess:
    """One child process: started, probed until ready, signalled, stopped as a whole group.

    `log_path` None: it shares our stdout/stderr. `new_session` False: it stays in our process
    group (a signal to the group reaches it too; stopping it signals only it). `signal_group`:
    its stop signal goes to its whole group. `die_with_parent`: SIGTERM to it if we die first
    (the code that arranges it runs between fork and exec: not while other threads may hold
    the locks it needs).
    """

    name: str
    argv: Sequence[str]
    env: dict[str, str] | None = None
    cwd: Path | None = None
    log_path: Path | None = None
    new_session: bool = True
    run_as: RunAs | None = None
    stop_signal: signal.Signals = signal.SIGTERM
    signal_group: bool = False
    die_with_parent: bool = False
    log_offset: int = field(default=0, init=False)  # where this start's output begins
    identity: ProcessIdentity | None = field(default=None, init=False)  # None: died at once
    _popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def start(self) -> ChildProcess:
        """Start it (OSError if it cannot be); returns itself."""
        if self._popen is not None:
            raise RuntimeError(f"{self.name} was started already")
        user = self.run_as
        with contextlib.ExitStack() as files:
            log = None
            if self.log_path is not None:
                self.log_offset = log_size(self.log_path)
                log = files.enter_context(self.log_path.open("ab"))
            self._popen = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT if log is not None else None,
                start_new_session=self.new_session,
                close_fds=True,
                user=user.uid if user else None,
                group=user.gid if user else None,
                extra_groups=[] if user else None,  # not root's supplementary groups
                preexec_fn=_die_with_parent if self.die_with_parent else None,
            )
        self.identity = ProcessIdentity.of(self._popen.pid)
        return self

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        if self._popen is None:
            raise RuntimeError(f"{self.name} has not been started")
        return self._popen

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        """Reap it if it exited; its exit status, or None while it runs."""
        return self.popen.poll()

    def is_running(self) -> bool:
        return self.poll() is None

    @overload
    def wait(self) -> int: ...

    @overload
    def wait(self, timeout: float) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int | None:
        """Its exit status, or None if it still runs after `timeout` seconds."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def describe_exit(self) -> str:
        return describe_exit(self.poll())

    def send_signal(self, sig: int) -> None:
        """`sig` to the child alone (nothing if it has exited)."""
        self.popen.send_signal(sig)

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = _TAIL_LINES) -> str:
        """The last lines this start wrote to its log."""
        if self.log_path is None:
            return "(its output is not in a log file)"
        return log_tail(self.log_path, since=self.log_offset, lines=lines)

    def _with_tail(self, message: str) -> str:
        if self.log_path is None:
            return message
        return f"{message}; last lines of {self.log_path}:\n{self.log_tail()}"

    def wait_ready(
        self, probe: Callable[[], T | None], timeout: float, what: str, *, interval: float = 0.1
    ) -> T:
        """Call `probe` until it returns something truthy, and return that.

        ChildExitedError (naming its exit status) as soon as the child exits first,
        ChildNotReadyError once `timeout` seconds have passed; both end with the log's tail.
        """
        deadline = time.monotonic() + timeout
        while True:
            if not self.is_running():
                raise ChildExitedError(
                    self._with_tail(f"{self.name} {self.describe_exit()} before {what}")
                )
            result = probe()
            if result:
                return result
            if time.monotonic() >= deadline:
                if not self.is_running():
                    continue  # report the exit, not the timeout
                raise ChildNotReadyError(
                    self._with_tail(f"{self.name}: no {what} within {timeout:g} s")
                )
            time.sleep(interval)

    def stop(self, grace: float = 20.0, sig: signal.Signals | None = None) -> str:
        """Its stop signal (or `sig`), SIGKILL to its group after `grace` s, then reap it."""
        popen = self.popen
        identity = self.identity or ProcessIdentity(popen.pid, -1.0)
        return stop_process(
            identity,
            sig or self.stop_signal,
            grace,
            own_group=self.new_session,
            signal_group=self.signal_group,
            alive=self.is_running,
        )


@dataclass
class RestartPolicy:
    """When a child that must keep running is started again after it exits, and when not.

    The pause doubles with each exit inside the window (`delays`); an exit status in
    `fatal_codes` (restarting cannot help), or `max_exits` exits within `window` seconds
    (it is broken), means: do not restart.
    """

    delays: Sequence[float] = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
    max_exits: int = 5
    window: float = 300.0
    fatal_codes: frozenset[int] = frozenset()
    exits: list[float] = field(default_factory=list)  # monotonic times within the window

    def record_exit(self, code: int, now: float | None = None) -> float | None:
        """Note an exit; the seconds to wait before the restart, or None: give up."""
        now = time.monotonic() if now is None else now
        self.exits = [t for t in self.exits if now - t < self.window] + [now]
        if code in self.fatal_codes or len(self.exits) >= self.max_exits:
            return None
        return self.delays[min(len(self.exits), len(self.delays)) - 1]
