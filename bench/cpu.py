"""CPU time of process trees: how many cores each service kept busy during a run."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import psutil


def tree_cpu_seconds(pid: int, *, children: bool = True) -> float:
    """User + system CPU seconds of a process and (unless told not to) its live descendants."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)] if children else [root]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent not idle, over all cores."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds per service, and of the whole machine, at one moment."""

    at: float
    seconds: dict[str, float]
    machine: float

    @classmethod
    def take(cls, trees: Mapping[str, int], single: Mapping[str, int]) -> CpuSnapshot:
        """`trees`: a service and its children; `single`: one process alone (the benchmark
        itself, whose children are the services measured separately)."""
        seconds = {name: tree_cpu_seconds(pid) for name, pid in trees.items()}
        seconds |= {name: tree_cpu_seconds(pid, children=False) for name, pid in single.items()}
        return cls(time.monotonic(), seconds, machine_busy_seconds())

    def cores_since(self, earlier: CpuSnapshot) -> dict[str, float]:
        """Average cores busy per service between two snapshots (1.0 = one core all the time),
        plus `others`: what the rest of the machine used (the noise of a shared host)."""
        wall = self.at - earlier.at
        if wall <= 0:
            return {}
        cores = {
            name: round((self.seconds[name] - earlier.seconds.get(name, 0.0)) / wall, 3)
            for name in self.seconds
        }
        machine = (self.machine - earlier.machine) / wall
        cores["others"] = round(max(0.0, machine - sum(cores.values())), 3)
        return cores
