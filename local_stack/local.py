"""LocalStack: start, check and stop the embedded Tansu, Valkey and Postgres of one state dir."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import signal
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from core.ports import port_is_free
from core.settings import Settings, StackMode
from core.supervisor import ChildProcess
from local_stack.errors import PortInUseError, StackError
from local_stack.lifecycle import (
    await_existing,
    await_external,
    start_server,
    status_of,
    stop_server,
    stopped,
)
from local_stack.paths import StatePaths
from local_stack.pidfile import PidRecord, read_pid_file, remove_pid_file
from local_stack.service import Service
from local_stack.services import all_services
from local_stack.status import ServiceState, ServiceStatus

logger = logging.getLogger(__name__)

_POLL_SECONDS = 0.05
_ROLLBACK_STOP_SECONDS = 5.0

T = TypeVar("T")


class LocalStack:
    """The local services of one Settings: embedded (started here) or external (only checked)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = StatePaths(settings.state_path)
        self.services = all_services(settings, self.paths)
        # Servers this object started, so that stopping them also reaps them.
        self._children: dict[str, ChildProcess] = {}

    @property
    def external(self) -> bool:
        return self.settings.stack == StackMode.EXTERNAL

    # -- public interface --------------------------------------------------------------------

    def up(self, timeout: float = 30.0) -> list[ServiceStatus]:
        """Start what is not running (in parallel) and wait until every service answers."""
        deadline = time.monotonic() + timeout
        if self.external:
            return self._parallel(self.services, lambda s: await_external(s, deadline))
        self._check_platform()
        self._check_distinct_ports()
        try:
            self.paths.ensure()
        except OSError as exc:
            raise StackError(
                f"cannot create the state directory {self.paths.root}: {exc}; point "
                "CREDIT_STATE_DIR at a writable directory."
            ) from exc
        with self._locked(deadline):
            running = {s.name: rec for s in self.services if (rec := self._running_record(s))}
            to_start = [s for s in self.services if s.name not in running]
            # Every check before any start, so a busy port or missing binary starts nothing.
            for service in to_start:
                service.preflight()
            for service in to_start:
                self._require_free_port(service)
            started: dict[str, ChildProcess] = {}

            def bring_up(service: Service) -> ServiceStatus:
                if service.name in running:
                    return await_existing(service, running[service.name], deadline)
                return start_server(service, deadline, started)

            try:
                statuses = self._parallel(self.services, bring_up)
            except BaseException:
                # All or nothing: stop what this call started so no half stack lingers.
                for service in self.services:
                    if service.name in started:
                        self._rollback(service, started[service.name])
                raise
            self._children.update(started)
            return statuses

    def down(self, timeout: float = 15.0) -> list[ServiceStatus]:
        """Stop the servers this stack started (SIGTERM/SIGINT, then SIGKILL of the group)."""
        if self.external:
            logger.info("stack is external: nothing to stop")
            return [
                ServiceStatus(
                    s.name,
                    s.address,
                    ServiceState.EXTERNAL,
                    None,
                    False,
                    "external service: not stopped (and not checked)",
                )
                for s in self.services
            ]
        if not self.paths.run_dir.is_dir():
            return [stopped(s, "was not running") for s in self.services]
        with self._locked(time.monotonic() + timeout):
            return self._parallel(self.services, lambda s: self._stop(s, timeout))

    def status(self) -> list[ServiceStatus]:
        """Per service: who runs it, and whether it answers right now."""
        return self._parallel(self.services, lambda s: status_of(s, self.external))

    def pid_of(self, name: str) -> int | None:
        """The pid of server `name` (kafka, redis, postgres) if this stack runs it now."""
        record = read_pid_file(self.paths.pid_file(name))
        return record.identity.pid if record and record.identity.is_alive() else None

    def stop_service(
        self, name: str, timeout: float = 15.0, sig: signal.Signals | None = None
    ) -> ServiceStatus:
        """Stop one server (with `sig` instead of its stop signal: SIGKILL is a crash)."""
        (service,) = [s for s in self.services if s.name == name]
        with self._locked(time.monotonic() + timeout):
            return self._stop(service, timeout, sig)

    # -- checks ------------------------------------------------------------------------------

    def _require_free_port(self, service: Service) -> None:
        if not port_is_free(service.host, service.port):
            raise PortInUseError(
                f"{service.name}: port {service.port} on {service.host} is already in use by "
                f"another process, so {service.product} cannot listen there. Stop that process "
                f"or choose another port (CREDIT_{service.name.upper()}_PORT).",
                service=service.name,
            )

    @staticmethod
    def _check_platform() -> None:
        # Process groups, sessions and the servers' binaries are Linux's.
        if not sys.platform.startswith("linux"):
            raise StackError(
                "the embedded stack needs Linux; elsewhere run Kafka, Redis and Postgres "
                "yourself and set CREDIT_STACK=external."
            )

    def _check_distinct_ports(self) -> None:
        by_port: dict[int, str] = {}
        for service in self.services:
            other = by_port.setdefault(service.port, service.name)
            if other != service.name:
                raise StackError(
                    f"{other} and {service.name} are both configured on port {service.port}; "
                    "give each service its own port."
                )

    def _running_record(self, service: Service) -> PidRecord | None:
        """The pid record of a live server of ours; a stale pid file is removed."""
        record = read_pid_file(service.pid_file)
        if record is None or not record.identity.is_alive():
            remove_pid_file(service.pid_file)
            return None
        if record.address != service.address:
            raise StackError(
                f"{service.name} already runs (pid {record.identity.pid}) on {record.address}, "
                f"but the settings now say {service.address}; run `credit-pipeline stack down` "
                "and then `up` again.",
                service=service.name,
            )
        return record

    # -- stopping ----------------------------------------------------------------------------

    def _stop(
        self, service: Service, timeout: float, sig: signal.Signals | None = None
    ) -> ServiceStatus:
        record = read_pid_file(service.pid_file)
        child = self._children.pop(service.name, None)
        if record is None or not record.identity.is_alive():
            if child is not None:
                child.stop(0)  # reap it, and whatever it left in its group
            remove_pid_file(service.pid_file)
            return stopped(service, "was not running")
        if child is not None and child.identity != record.identity:
            child = None  # the pid file names another server than the one we started
        outcome = stop_server(service, record.identity, timeout, child, sig)
        return stopped(service, f"{outcome} (was pid {record.identity.pid})")

    def _rollback(self, service: Service, child: ChildProcess) -> None:
        try:
            identity = child.identity
            if identity is not None:
                stop_server(service, identity, _ROLLBACK_STOP_SECONDS, child)
            else:
                child.stop(0)
        except Exception:  # keep the original error; this one is only logged
            logger.exception(
                "%s: could not stop pid %d after a failed start", service.name, child.pid
            )

    # -- helpers -----------------------------------------------------------------------------

    def _parallel(self, services: list[Service], task: Callable[[Service], T]) -> list[T]:
        """Run `task` for every service at once; re-raise the first failure in service order."""
        with ThreadPoolExecutor(max_workers=len(services), thread_name_prefix="stack") as pool:
            futures: list[Future[T]] = [pool.submit(task, s) for s in services]
            errors = [f.exception() for f in futures]
        failures = [e for e in errors if e is not None]
        for extra in failures[1:]:
            logger.error("%s", extra)
        if failures:
            raise failures[0]
        return [f.result() for f in futures]

    @contextlib.contextmanager
    def _locked(self, deadline: float) -> Iterator[None]:
        """Serialise `up`/`down` on one state dir across processes."""
        with self.paths.lock_file.open("a") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StackError(
                            f"another `stack up` or `stack down` holds {self.paths.lock_file}; "
                            "wait for it to finish."
                        ) from None
                    time.sleep(_POLL_SECONDS)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
