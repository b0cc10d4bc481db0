"""The exit deadline: a process that does not finish stopping in time exits anyway."""

from __future__ import annotations

import subprocess
import sys
import time

from stream_processor.shutdown import EXIT_DEADLINE


def test_a_process_stuck_in_shutdown_exits_at_its_deadline_and_says_where_it_was() -> None:
    code = (
        "import logging, time; logging.basicConfig(); "
        "from stream_processor.shutdown import arm_exit_deadline; "
        "arm_exit_deadline(0.5); arm_exit_deadline(60); time.sleep(60)"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == EXIT_DEADLINE
    assert time.monotonic() - started < 10  # the first deadline wins, not the second
    assert "shutdown not finished after 0.5 s; exiting now" in done.stderr
    assert "time.sleep" in done.stderr or "<module>" in done.stderr  # the stuck thread's stack
