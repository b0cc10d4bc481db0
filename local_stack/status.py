"""What `up`, `down` and `status` report for each service."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ServiceState(StrEnum):
    """Who, if anyone, runs a service."""

    RUNNING = "running"  # started by this stack (pid file + same process identity)
    STOPPED = "stopped"  # not running, nothing listens on its port
    EXTERNAL = "external"  # something we did not start serves (or holds) the address


@dataclass(frozen=True)
class ServiceStatus:
    """One service as seen right now."""

    name: str
    address: str
    state: str
    pid: int | None
    healthy: bool
    detail: str
