"""Progress for long CLI steps, on stderr so stdout stays clean for scripts.

One style for the whole CLI: `Progress` prints a line as each step starts and ends (kept in
logs); inside a step, `progress_bar` draws a tqdm bar with rate and time left, and `waiting`
an elapsed-time counter for a wait of unknown length. Those two draw only on an interactive
terminal: in a log file or a pipe they write nothing, so no control codes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO


class Bar(Protocol):
    def update(self, n: float = 1) -> bool | None: ...


@contextmanager
def progress_bar(
    total: float, what: str, unit: str = "it", stream: TextIO | None = None
) -> Iterator[Bar]:
    """A bar of `total` `unit`s titled `what`, drawn only if `stream` (stderr) is a terminal."""
    from tqdm import tqdm

    out = sys.stderr if stream is None else stream
    bar = tqdm(
        total=total,
        desc=f"      {what}",
        unit=unit,
        file=out,
        disable=not out.isatty(),
        leave=False,  # the step's "done" line stays, the bar goes
        dynamic_ncols=True,
        mininterval=0.2,
    )
    try:
        yield bar
    finally:
        bar.close()


@contextmanager
def waiting(what: str, stream: TextIO | None = None) -> Iterator[Callable[[], None]]:
    """An elapsed-time counter titled `what`, for a wait of unknown length (a server that
    starts); yields the function that redraws it. Drawn only on a terminal, like the bar."""
    from tqdm import tqdm

    out = sys.stderr if stream is None else stream
    counter = tqdm(
        total=None,
        desc=f"      {what}",
        bar_format="{desc}: {elapsed}",
        file=out,
        disable=not out.isatty(),
        leave=False,
    )
    try:
        yield counter.refresh
    finally:
        counter.close()


class Progress:
    """Prints `[i/n] step ... done (1.2 s)` lines; a step may add a detail to its line."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self._total = total
        self._done = 0
        self._stream = stream

    @contextmanager
    def step(self, title: str) -> Iterator[list[str]]:
        self._done += 1
        self._stream.write(f"[{self._done}/{self._total}] {title} ...\n")
        self._stream.flush()
        details: list[str] = []
        start = time.perf_counter()
        yield details
        elapsed = time.perf_counter() - start
        suffix = f": {'; '.join(details)}" if details else ""
        self._stream.write(f"      done in {elapsed:.1f} s{suffix}\n")
        self._stream.flush()
