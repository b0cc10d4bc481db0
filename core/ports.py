"""Port checks: could a server listen here, who holds it, does something answer here."""

from __future__ import annotations

import errno
import socket

from core.errors import ConfigurationError


def port_is_free(host: str, port: int) -> bool:
    """True if a server could listen on host:port now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR too, so TIME_WAIT leftovers of a past run don't count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def port_accepts(host: str, port: int, timeout: float) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_holder(port: int) -> str | None:
    """`pid N (name)` of the process listening on `port`, when this user may see it."""
    import psutil

    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid is None:
                    return None
                return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
    except (psutil.Error, OSError):  # another user's sockets, or a process gone meanwhile
        return None
    return None


def held_by(port: int) -> str:
    """` by pid N (name)` when the holder of `port` is known, else nothing: for messages."""
    holder = port_holder(port)
    return f" by {holder}" if holder else ""


def require_free_port(host: str, port: int, setting: str) -> None:
    """Fail with one line naming the port, its holder when known, and the setting to change."""
    if port and not port_is_free(host, port):
        raise ConfigurationError(
            f"{host}:{port} is already in use{held_by(port)}: set {setting} to a free port"
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A port the system considers free on `host` now (the caller binds it right away)."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports free on `host` now. All are held open until the last is chosen:
    picked one at a time, the system may hand out the same released port twice."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets = [socket.socket(family, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
