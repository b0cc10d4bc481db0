"""The processor's metrics port: a taken default moves aside, a taken explicit one fails."""

from __future__ import annotations

import logging
import socket

import pytest

from core.settings import Settings
from stream_processor.errors import StreamProcessorError
from stream_processor.metrics import metrics_port


def _default_settings(port: int) -> Settings:
    """Settings whose metrics_port is the default, as if nobody had set it (not in fields_set)."""
    values = {**Settings().model_dump(), "metrics_port": port}
    settings = Settings.model_construct(_fields_set=set(), **values)
    assert "metrics_port" not in settings.model_fields_set
    return settings


def test_a_taken_default_port_moves_to_a_free_one_and_says_so(
    listening_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        chosen = metrics_port(_default_settings(listening_port))
    assert chosen not in (0, listening_port)
    assert f"the default port {listening_port} is in use by pid" in caplog.text
    assert str(chosen) in caplog.text


def test_a_taken_port_set_explicitly_fails_with_its_holder(listening_port: int) -> None:
    with pytest.raises(StreamProcessorError, match=f"127.0.0.1:{listening_port}: in use by pid"):
        metrics_port(Settings(metrics_port=listening_port))


def test_a_free_port_and_port_zero_are_kept(listening_port: int) -> None:
    assert metrics_port(Settings(metrics_port=0)) == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = int(sock.getsockname()[1])
    assert metrics_port(Settings(metrics_port=free)) == free
    assert metrics_port(_default_settings(free - 1), offset=1) == free  # worker 1 of a group
