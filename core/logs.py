"""Logging of every command and worker: one format on stderr, the chatty libraries quieter."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Chatty at INFO; their warnings still show.
NOISY_LOGGERS = ("feast", "urllib3", "kafka", "aiokafka", "faust", "mode")


def configure_logging(verbose: bool = False, label: str | None = None) -> None:
    """The project's log format on stderr, optionally tagged with a worker label."""
    fmt = LOG_FORMAT if label is None else LOG_FORMAT.replace("%(name)s", f"[{label}] %(name)s")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format=fmt, stream=sys.stderr
    )
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
