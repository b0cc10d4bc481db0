"""Child processes of a benchmark: started in their own group, logged to a file, stopped whole."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from prometheus_client.parser import text_string_to_metric_families

from bench.errors import ChildFailed
from core import ports
from core.settings import REPO_ROOT, Settings, settings_env
from core.supervisor import ChildFailedError
from core.supervisor import ChildProcess as Supervised

T = TypeVar("T")

_POLL_S = 0.1
LOOPBACK = "127.0.0.1"


def free_port(consecutive: int = 1) -> int:
    """A loopback port with `consecutive - 1` free ports after it (workers use base + i)."""
    for _ in range(100):
        base = ports.free_port(LOOPBACK)
        if all(ports.port_is_free(LOOPBACK, base + i) for i in range(1, consecutive)):
            return base
    raise ChildFailed(f"found no {consecutive} consecutive free loopback ports")


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    """This process's environment with the CREDIT_* variables replaced by `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_")}
    env.update(settings_env(settings))
    env.update(settings.feast_env())
    env.update(extra)
    return env


class ChildProcess:
    """One command the benchmark runs (processor, baseline agent, sampler, server), started at
    once in its own session: stopping it stops its whole group (workers of a supervisor too)."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.child = Supervised(
            name, argv, env=env, cwd=REPO_ROOT, log_path=log_path, signal_group=True
        ).start()

    @property
    def pid(self) -> int:
        return self.child.pid

    def log_text(self) -> str:
        return self.child.log_text()

    def log_tail(self, lines: int = 25) -> str:
        return self.child.log_tail(lines)

    def running(self) -> bool:
        return self.child.is_running()

    def check_running(self) -> None:
        """Raise if the child has exited."""
        if not self.running():
            raise ChildFailed(
                f"{self.name} {self.child.describe_exit()}; last lines of "
                f"{self.log_path}:\n{self.log_tail()}"
            )

    def wait_until(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        """Poll `check` until it returns a value; fail if the child exits or time runs out."""
        try:
            return self.child.wait_ready(check, timeout, what, interval=_POLL_S)
        except ChildFailedError as exc:
            raise ChildFailed(str(exc)) from exc

    def wait_exit(self, timeout: float) -> int:
        code = self.child.wait(timeout)
        if code is None:
            raise ChildFailed(
                f"{self.name} did not exit within {timeout:.0f} s; last lines of "
                f"{self.log_path}:\n{self.log_tail()}"
            )
        return code

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the group (a clean faust shutdown), SIGKILL after `timeout`."""
        self.child.stop(timeout)


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
