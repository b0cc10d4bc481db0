"""The freshness run's helper processes: the Feast sampler and the broker-floor consumer.

Each is started with a JSON spec and stopped by one shared stop file, then leaves its
observations in a JSON file; both run apart from the producer's process (no shared GIL).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import FreshnessConfig
from bench.events import EntityRef
from bench.procs import ChildProcess, child_env
from core.contract import VIEWS, VIEWS_BY_NAME
from core.events import topic_name
from core.settings import Settings

_READY_S = 90.0


@dataclass
class Helper:
    """A started helper process and the file it writes when the stop file appears."""

    child: ChildProcess
    out: Path

    def result(self, timeout: float = 30.0) -> dict[str, Any]:
        """Its observations, once it has exited (the stop file must exist)."""
        self.child.wait_exit(timeout)
        data: dict[str, Any] = json.loads(self.out.read_text())
        return data


def _start(
    name: str, module: str, spec: dict[str, Any], settings: Settings, work: Path, ready: str
) -> Helper:
    """`python -m module SPEC OUT`, once its log says `ready`."""
    spec_path, out = work / f"{name}-spec.json", work / f"{name}.json"
    spec_path.write_text(json.dumps(spec))
    child = ChildProcess(
        name,
        [sys.executable, "-m", module, str(spec_path), str(out)],
        child_env(settings),
        work / f"{name}.log",
    )
    child.wait_until(lambda: ready in child.log_text(), _READY_S, f"`{ready}` in its log")
    return Helper(child, out)


def start_sampler(
    settings: Settings,
    watched: list[EntityRef],
    config: FreshnessConfig,
    work: Path,
    stop_file: Path,
) -> Helper:
    """The Feast sampler, once its first read is done (Feast imported, clients open)."""
    by_view: dict[str, list[Any]] = {}
    for name, key in watched:
        by_view.setdefault(name, []).append(key)
    names = list(by_view)
    keys = {name: VIEWS_BY_NAME[name].entity.name for name in names}
    # One entity row per index holds a key of each view: one Feast call reads them all.
    width = max(len(v) for v in by_view.values())
    rows = [{keys[n]: by_view[n][i % len(by_view[n])] for n in names} for i in range(width)]
    spec = {
        "rows": rows,
        "views": keys,
        "interval_ms": config.poll_interval_ms,
        "stop_file": str(stop_file),
    }
    return _start("sampler", "bench.sampler", spec, settings, work, "sampler ready")


def start_floor(settings: Settings, work: Path, stop_file: Path) -> Helper:
    """The broker-floor consumer on the run's update topics, once it holds every partition."""
    spec = {
        "topics": [topic_name(view, settings.topic_prefix) for view in VIEWS],
        "group": f"{settings.consumer_group}-floor",
        "stop_file": str(stop_file),
    }
    return _start("broker-floor", "bench.broker_floor", spec, settings, work, "broker floor ready")
