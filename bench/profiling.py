"""Where the time goes: py-spy attached to a process for one extra, unmeasured run.

py-spy is optional (`uv pip install py-spy`); without it `--profile` says how to get it and the
figures are reported without profiles.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.supervisor import ChildProcess

INSTALL_HINT = "install it with `uv pip install py-spy` (or `pip install py-spy`) in the venv"
RATE_HZ = 100
_TOP = 15
# Inclusive time is shown for the project's own functions: the library frames around them
# (event loops, routers, runpy) would fill the list with 100% entries that say nothing.
PROJECT = {"stream_processor", "credit_pipeline", "scoring_api", "feature_repo", "producers"}
_ENTRY_POINTS = {"<module>", "main", "run_process", "run_worker", "run_serve"}
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")


def py_spy_path() -> str | None:
    """py-spy on PATH or next to this interpreter (a venv that is not activated)."""
    found = shutil.which("py-spy")
    sibling = Path(sys.executable).with_name("py-spy")
    return found or (str(sibling) if sibling.exists() else None)


@dataclass
class Profile:
    """Sampled stacks of one process: shares of the sampled time by package and by function."""

    target: str
    samples: int = 0
    seconds: float = 0.0
    by_package: list[tuple[str, float]] = field(default_factory=list)  # self time, % of samples
    top_inclusive: list[tuple[str, float]] = field(default_factory=list)  # project functions
    top_self: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "samples": self.samples,
            "seconds": self.seconds,
            # Average number of busy threads (1.0: one thread busy all the time).
            "threads_busy": self.samples / (RATE_HZ * self.seconds) if self.seconds else None,
            "by_package": self.by_package,
            "top_inclusive": self.top_inclusive,
            "top_self": self.top_self,
            "error": self.error,
        }


@contextlib.contextmanager
def profiled(pid: int, target: str, out: Path) -> Iterator[Profile]:
    """Sample `pid` and its children while the block runs; the Profile is filled at exit."""
    profile = Profile(target)
    binary = py_spy_path()
    if binary is None:
        profile.error = f"py-spy not found: {INSTALL_HINT}"
        yield profile
        return
    argv = [
        binary,
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(RATE_HZ),
        "--format",
        "raw",
        "--output",
        str(out),
        "--subprocesses",
        "--nonblocking",
    ]
    # Samples of every thread py-spy does not see idle: a thread blocked inside a C call (a
    # psycopg2 COPY) counts, one parked on a lock does not. --nonblocking: the target is not
    # paused per sample, so it runs at its normal speed.
    # SIGINT: py-spy writes its output when interrupted.
    spy = ChildProcess(
        "py-spy", argv, log_path=out.with_suffix(".log"), stop_signal=signal.SIGINT
    ).start()
    started = _now()
    try:
        yield profile
    finally:
        profile.seconds = _now() - started
        spy.stop(grace=30)
        if out.exists():
            summarise(out.read_text(), profile)
        else:
            profile.error = f"py-spy wrote no profile: {out.with_suffix('.log').read_text()[-500:]}"


def _now() -> float:
    import time

    return time.monotonic()


def _package(path: str) -> str:
    """Top-level package of a frame's file as py-spy shortens it (`feast/infra/...` -> feast);
    the standard library's modules are `<stdlib>`."""
    top = path.split("/", 1)[0].removesuffix(".py")
    if top.startswith("<frozen") or top in sys.stdlib_module_names:
        return "<stdlib>"
    return top


def _frame(text: str) -> tuple[str, str]:
    match = _FRAME.match(text.strip())
    if match is None:
        return text.strip(), ""
    return match["func"], match["file"]


def summarise(raw: str, profile: Profile) -> None:
    """Fill `profile` from py-spy's collapsed stacks (`frame;frame;... count` per line)."""
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame(f) for f in stack.split(";")]
        frames = [f for f in frames if f[1]]  # process and thread pseudo-frames carry no file
        if not frames:
            continue
        names = {
            f"{func} ({package})"
            for func, path in frames
            if (package := _package(path)) in PROJECT and func not in _ENTRY_POINTS
        }
        for name in names:
            inclusive[name] += count
        func, path = frames[-1]
        leaf[f"{func} ({_package(path)})"] += count
        packages[_package(path)] += count
    profile.samples = total
    if not total:
        profile.error = "py-spy recorded no samples"
        return

    def top(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, 100 * n / total) for name, n in counter.most_common(_TOP)]

    profile.by_package = top(packages)
    profile.top_inclusive = top(inclusive)
    profile.top_self = top(leaf)
