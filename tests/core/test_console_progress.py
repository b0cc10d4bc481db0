"""core.console.progress_bar: a bar with rate and time left on a terminal, nothing elsewhere."""

from __future__ import annotations

import io
import time

from core.console import progress_bar, waiting


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_shows_count_rate_and_time_left() -> None:
    out = _Terminal()
    with progress_bar(4, "rows copied", unit="rows", stream=out) as bar:
        for _ in range(2):
            time.sleep(0.3)  # past the bar's redraw interval
            bar.update(2)
    text = out.getvalue()
    assert "rows copied" in text
    assert "2/4" in text and "rows/s" in text  # a count and a rate
    assert "<00:0" in text  # elapsed<time left
    assert text.endswith("\r")  # cleared when done: the step's own line stays


def test_in_a_log_file_or_a_pipe_nothing_is_written() -> None:
    out = io.StringIO()  # not a terminal
    with progress_bar(4, "rows copied", unit="rows", stream=out) as bar:
        bar.update(4)
    assert out.getvalue() == ""


def test_a_wait_shows_its_elapsed_time_on_a_terminal_only() -> None:
    out, log = _Terminal(), io.StringIO()
    for stream in (out, log):
        with waiting("waiting for the processor", stream=stream) as redraw:
            time.sleep(1.1)
            redraw()
    assert "waiting for the processor: 00:01" in out.getvalue()
    assert log.getvalue() == ""
