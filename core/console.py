"""Progress lines for long CLI steps (stderr, so stdout stays clean for scripts)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


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
