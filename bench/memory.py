"""Peak resident memory of every service during the runs, sampled in a background thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import psutil

SAMPLE_INTERVAL_S = 0.5
_MB = 1024 * 1024


def tree_rss(pid: int) -> int:
    """RSS of a process and all its descendants, in bytes (0 when it is gone).

    Summed per process, as `ps` shows it: pages shared between processes (Postgres's shared
    buffers, a forked worker's copy-on-write pages) count once per process.
    """
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue  # exited between the listing and the read
    return total


@dataclass
class Peak:
    """The largest sample of one service, and in which phase it was seen."""

    mb: float = 0.0
    phase: str = ""
    by_phase: dict[str, float] = field(default_factory=dict)


class MemoryMonitor:
    """Samples the RSS of watched process trees every 0.5 s; keeps the peak per service."""

    def __init__(self, interval: float = SAMPLE_INTERVAL_S) -> None:
        self._interval = interval
        self._watched: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-monitor", daemon=True)
        self.phase = "setup"
        self.peaks: dict[str, Peak] = {}
        self.samples = 0

    def watch(self, service: str, pid: int) -> None:
        """Sample this process tree as `service` from now on (replaces an earlier pid)."""
        with self._lock:
            self._watched[service] = pid
        self._sample_one(service, pid)

    def unwatch(self, service: str) -> None:
        with self._lock:
            pid = self._watched.pop(service, None)
        if pid is not None:
            self._sample_one(service, pid)  # a last look before it is stopped

    def start(self) -> MemoryMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                watched = list(self._watched.items())
            for service, pid in watched:
                self._sample_one(service, pid)
            self.samples += 1

    def _sample_one(self, service: str, pid: int) -> None:
        mb = tree_rss(pid) / _MB
        if not mb:
            return
        with self._lock:
            peak = self.peaks.setdefault(service, Peak())
            phase = self.phase
            if mb > peak.mb:
                peak.mb, peak.phase = mb, phase
            peak.by_phase[phase] = max(peak.by_phase.get(phase, 0.0), mb)
