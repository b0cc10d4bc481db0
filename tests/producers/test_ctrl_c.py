"""Ctrl-C during `produce stream/replay`: the first stops and flushes, a second interrupts."""

from __future__ import annotations

import signal

import pytest

from producers.sending import stop_on_sigint


def test_first_ctrl_c_sets_stop_and_a_second_interrupts() -> None:
    before = signal.getsignal(signal.SIGINT)
    with stop_on_sigint() as stop:
        signal.raise_signal(signal.SIGINT)
        assert stop.is_set()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
