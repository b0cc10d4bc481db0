"""Every server `credit-pipeline demo` starts listens on loopback only, with default hosts.

The demo runs as in tests/demo/test_demo.py (its own state dir and ports, hosts left at their
defaults); once it is ready, every listening socket of the demo and all its descendants (the
stack's Tansu, Valkey and Postgres, the processor, the API) must be bound to a loopback address.
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from core.settings import Settings

pytestmark = pytest.mark.integration

# Processes start their servers one by one: how long to wait for every expected port.
_LISTEN_TIMEOUT_S = 60.0


def is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%", 1)[0])  # a scope id ("fe80::1%eth0") cut
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def listeners(root_pid: int) -> list[tuple[str, int, int, str]]:
    """(ip, port, pid, command) of every TCP socket in LISTEN, and every bound UDP socket, of
    `root_pid` and all its descendants."""
    root = psutil.Process(root_pid)
    found = []
    for process in [root, *root.children(recursive=True)]:
        try:
            sockets = process.net_connections(kind="inet")
            command = " ".join(process.cmdline()[:6])
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue  # a short-lived helper that ended meanwhile
        for conn in sockets:
            udp = conn.type == socket.SOCK_DGRAM
            if conn.status == psutil.CONN_LISTEN or (udp and not conn.raddr):
                found.append((conn.laddr.ip, conn.laddr.port, process.pid, command))
    return found


def test_every_server_of_the_demo_listens_on_loopback_only(
    demo_settings: Settings, tmp_path: Path, start_python: Callable[..., Any]
) -> None:
    expected = {
        demo_settings.kafka_port: "kafka",
        demo_settings.redis_port: "redis",
        demo_settings.postgres_port: "postgres",
        demo_settings.api_port: "api",
        demo_settings.metrics_port: "metrics",
    }
    demo = start_python(
        demo_settings, tmp_path / "demo.log", "-m", "credit_pipeline.cli", "demo",
        "--rate", "5", "--persons", "200", "--zipcodes", "40", "--seed", "7",
    )  # fmt: skip
    try:
        demo.wait_for_log("Ctrl-C stops everything", 400)
        deadline = time.monotonic() + _LISTEN_TIMEOUT_S
        while True:
            found = listeners(demo.pid)
            missing = set(expected) - {port for _ip, port, _pid, _cmd in found}
            if not missing or time.monotonic() > deadline:
                break
            demo.check_running()
            time.sleep(0.5)

        assert not missing, ([expected[port] for port in missing], found)
        assert len(found) >= 4, found  # the check below cannot pass on an empty list
        exposed = [entry for entry in found if not is_loopback(entry[0])]
        assert not exposed, exposed

        demo.signal(signal.SIGINT)
        assert demo.wait(120) == 0, demo.log[-4000:]
    finally:
        if demo.child.is_running():
            demo.stop(0)


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.8.9.1")
    assert is_loopback("::1") and is_loopback("::ffff:127.0.0.1")
    assert not any(is_loopback(ip) for ip in ("0.0.0.0", "::", "10.1.2.3", "fe80::1%eth0"))
