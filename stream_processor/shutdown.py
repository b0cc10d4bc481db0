"""A deadline on shutdown: past it the worker exits at once, whatever it is waiting for.

Offsets are committed only for events in both stores, so exiting without the batch in flight
loses nothing: its events are redelivered to whoever owns the partition next. What must not
happen is a worker that ignores SIGTERM because a store hangs under a blocked call.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

# Past the grace period: time to commit, close the producer and leave the group.
EXIT_MARGIN_SECONDS = 5.0
# Exit status of a worker that had to be stopped by the deadline.
EXIT_DEADLINE = 3

_armed: threading.Timer | None = None
_lock = threading.Lock()


def _expire(seconds: float) -> None:
    log.error(
        "shutdown not finished after %g s; exiting now (events not yet committed are redelivered)",
        seconds,
    )
    for handler in logging.getLogger().handlers:
        handler.flush()
    # Where each thread was stuck, for whoever has to find out which call ignored its timeout.
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    os._exit(EXIT_DEADLINE)


def arm_exit_deadline(seconds: float) -> None:
    """Exit the process `seconds` from now unless it has exited by then (first call wins)."""
    global _armed
    with _lock:
        if _armed is not None:
            return
        _armed = threading.Timer(seconds, _expire, args=(seconds,))
        _armed.daemon = True  # does not itself keep the process alive
        _armed.start()
