"""Child processes of a benchmark: started in their own group, logged to a file, stopped whole."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from prometheus_client.parser import text_string_to_metric_families

from bench.errors import ChildFailed
from core.settings import REPO_ROOT, Settings, settings_env

T = TypeVar("T")

_POLL_S = 0.1


def free_port(consecutive: int = 1) -> int:
    """A loopback port with `consecutive - 1` free ports after it (workers use base + i)."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = int(sock.getsockname()[1])
        if all(_is_free(base + i) for i in range(1, consecutive)):
            return base
    raise ChildFailed(f"found no {consecutive} consecutive free loopback ports")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    """This process's environment with the CREDIT_* variables replaced by `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_")}
    env.update(settings_env(settings))
    env.update(settings.feast_env())
    env.update(extra)
    return env


class ChildProcess:
    """One command the benchmark runs (processor, baseline agent, sampler, server)."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("ab")
        # Own session: stopping the group also stops workers a supervisor started.
        self.proc = subprocess.Popen(
            list(argv),
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 25) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def running(self) -> bool:
        return self.proc.poll() is None

    def check_running(self) -> None:
        """Raise if the child has exited."""
        if not self.running():
            raise ChildFailed(
                f"{self.name} exited with code {self.proc.returncode}; last lines of "
                f"{self.log_path}:\n{self.log_tail()}"
            )

    def wait_until(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        """Poll `check` until it returns a value; fail if the child exits or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if not self.running():
                raise ChildFailed(
                    f"{self.name} exited with code {self.proc.returncode} while waiting for "
                    f"{what}; last lines of {self.log_path}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise ChildFailed(
                    f"{self.name} did not reach {what} within {timeout:.0f} s; last lines of "
                    f"{self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(_POLL_S)

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ChildFailed(
                f"{self.name} did not exit within {timeout:.0f} s; last lines of "
                f"{self.log_path}:\n{self.log_tail()}"
            ) from None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the group (a clean faust shutdown), SIGKILL after `timeout`."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        # Whatever is left in the group (workers of a supervisor) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self._log.close()


def scrape_samples(port: int, timeout: float = 5.0) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of a Prometheus endpoint on loopback: (name, labels, value)."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    return [
        (sample.name, dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def scrape(port: int, name: str, **labels: str) -> float:
    """Sum of the samples named `name` (with these labels) on a Prometheus endpoint."""
    return sum(
        value
        for sample, found, value in scrape_samples(port)
        if sample == name and all(found.get(k) == v for k, v in labels.items())
    )
