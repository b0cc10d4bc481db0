"""A store's outage as the API sees it: one log line when it starts, one when it ends (with how
long it lasted and how many calls failed), and a callback for its gauge (credit_api_store_up).
The key store (scoring_api/core/auth.py) and the online store (scoring_api/service/features.py)
decide what counts as a failure and word their lines; this keeps the state between them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class OutageLog:
    """`failed()` on every failed call, `succeeded()` on every answered one."""

    def __init__(
        self,
        logger: logging.Logger,
        ended: str,
        address: str,
        on_change: Callable[[bool], None] = lambda up: None,
    ) -> None:
        # `ended` is formatted with the address, the outage's seconds and its failed calls.
        self._log = logger
        self._ended = ended
        self.address = address
        self._on_change = on_change
        self.down_since: float | None = None
        self.failures = 0

    def failed(self, started: str, *args: object) -> None:
        """A call failed; the first of an outage logs `started % args`."""
        self.failures += 1
        if self.down_since is None:
            self.down_since = time.monotonic()
            self._on_change(False)
            self._log.warning(started, *args)

    def succeeded(self) -> None:
        if self.down_since is not None:
            self._log.warning(
                self._ended, self.address, time.monotonic() - self.down_since, self.failures
            )
            self.down_since, self.failures = None, 0
            self._on_change(True)
