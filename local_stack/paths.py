"""Layout of the state directory: `run/` (pid files, sockets), `logs/`, `data/<service>/`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StatePaths:
    """Where one stack keeps its pids, logs and data."""

    root: Path

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def lock_file(self) -> Path:
        return self.run_dir / "stack.lock"

    def pid_file(self, service: str) -> Path:
        return self.run_dir / f"{service}.pid"

    def log_file(self, service: str) -> Path:
        return self.logs_dir / f"{service}.log"

    def data(self, service: str) -> Path:
        return self.data_dir / service

    def ensure(self) -> None:
        """Create the top-level directories (the services create their own data dirs)."""
        for directory in (self.root, self.run_dir, self.logs_dir, self.data_dir):
            directory.mkdir(parents=True, exist_ok=True)
