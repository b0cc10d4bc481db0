"""The pid files of the stack's servers: who runs each one, and on which address it started.

Three lines: the pid, its create time in seconds after boot with two decimals (see
core.processes.ProcessIdentity), the address. The first line alone is a plain pid file. Files
written before the supervisor held the kernel's start time in clock ticks (an integer) on the
second line: the same instant, read as such, so servers started then are still recognised.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.processes import ProcessIdentity


@dataclass(frozen=True)
class PidRecord:
    """What a pid file holds: who runs, and on which address it was started."""

    identity: ProcessIdentity
    address: str


def _create_time(field: str) -> float:
    if "." in field:
        return float(field)
    return round(int(field) / os.sysconf("SC_CLK_TCK"), 2)  # the old format: clock ticks


def write_pid_file(path: Path, record: PidRecord) -> None:
    """Write the record (atomically: a reader never sees half a file)."""
    identity = record.identity
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{identity.pid}\n{identity.create_time:.2f}\n{record.address}\n")
    tmp.replace(path)


def read_pid_file(path: Path) -> PidRecord | None:
    """The record in a pid file, or None if the file is missing or not one of ours."""
    try:
        pid, created, address = path.read_text().split()
        return PidRecord(ProcessIdentity(int(pid), _create_time(created)), address)
    except (FileNotFoundError, ValueError):
        return None


def remove_pid_file(path: Path) -> None:
    """Delete a pid file if present."""
    path.unlink(missing_ok=True)
