"""A taken port is named with its holder and the setting that moves it."""

from __future__ import annotations

import os

import pytest

from core.errors import ConfigurationError
from core.ports import free_port, free_ports, port_holder, port_is_free, require_free_port


def test_the_holder_of_a_port_is_named(listening_port: int) -> None:
    assert port_holder(listening_port) == f"pid {os.getpid()} ({_our_name()})"
    with pytest.raises(ConfigurationError) as caught:
        require_free_port("127.0.0.1", listening_port, "CREDIT_API_PORT")
    message = str(caught.value)
    assert f"127.0.0.1:{listening_port} is already in use by pid {os.getpid()}" in message
    assert "set CREDIT_API_PORT to a free port" in message


def test_a_free_port_passes() -> None:
    port = free_port("127.0.0.1")
    assert port_is_free("127.0.0.1", port)
    require_free_port("127.0.0.1", port, "CREDIT_API_PORT")  # no error
    require_free_port("127.0.0.1", 0, "CREDIT_API_PORT")  # 0: nothing to bind


def test_ports_picked_together_are_distinct_and_free() -> None:
    # A stack's services get their ports in one call: picked one at a time, the system may
    # hand the same released port out twice (a CI run saw kafka and postgres on one port).
    for _ in range(20):
        ports = free_ports(40)
        assert len(set(ports)) == 40
        assert all(port_is_free("127.0.0.1", port) for port in ports)


def _our_name() -> str:
    import psutil

    return psutil.Process().name()
