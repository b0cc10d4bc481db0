"""LocalStack: start, check and stop the embedded Tansu, Valkey and Postgres of one state dir."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from core.settings import Settings, StackMode
from local_stack.errors import (
    PortInUseError,
    ServiceNotReadyError,
    ServiceStartError,
    StackError,
)
from local_stack.health import Probe
from local_stack.paths import StatePaths
from local_stack.process import (
    PidRecord,
    ProcessIdentity,
    identify,
    log_size,
    log_tail,
    port_accepts,
    port_is_free,
    read_pid_file,
    remove_pid_file,
    spawn,
    stop,
    write_pid_file,
)
from local_stack.services import Service, all_services
from local_stack.status import ServiceState, ServiceStatus

logger = logging.getLogger(__name__)

_POLL_SECONDS = 0.05
_STATUS_PROBE_SECONDS = 2.0
_ROLLBACK_STOP_SECONDS = 5.0
_UNKNOWN_EXIT = -1000  # a server we did not spawn in this process exited: no code to read

T = TypeVar("T")


class LocalStack:
    """The local services of one Settings: embedded (started here) or external (only checked)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = StatePaths(settings.state_path)
        self.services = all_services(settings, self.paths)
        # Popen handles of servers this object started, so their exit codes can be read
        # (and zombies reaped) while waiting for readiness.
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def external(self) -> bool:
        return self.settings.stack == StackMode.EXTERNAL

    # -- public interface --------------------------------------------------------------------

    def up(self, timeout: float = 30.0) -> list[ServiceStatus]:
        """Start what is not running (in parallel) and wait until every service answers."""
        deadline = time.monotonic() + timeout
        if self.external:
            return self._parallel(self.services, lambda s: self._await_external(s, deadline))
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
            started: dict[str, ProcessIdentity] = {}

            def bring_up(service: Service) -> ServiceStatus:
                if service.name in running:
                    return self._await_existing(service, running[service.name], deadline)
                return self._start(service, deadline, started)

            try:
                return self._parallel(self.services, bring_up)
            except BaseException:
                # All or nothing: stop what this call started so no half stack lingers.
                for service in self.services:
                    if service.name in started:
                        self._rollback(service, started[service.name])
                raise

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
            return [self._stopped(s, "was not running") for s in self.services]
        with self._locked(time.monotonic() + timeout):

            def stop_service(service: Service) -> ServiceStatus:
                record = read_pid_file(self.paths.pid_file(service.name))
                if record is None or not record.identity.is_alive():
                    remove_pid_file(self.paths.pid_file(service.name))
                    return self._stopped(service, "was not running")
                outcome = self._stop_one(service, record.identity, timeout)
                return self._stopped(service, f"{outcome} (was pid {record.identity.pid})")

            return self._parallel(self.services, stop_service)

    def status(self) -> list[ServiceStatus]:
        """Per service: who runs it, and whether it answers right now."""
        return self._parallel(self.services, self._status_one)

    # -- starting ----------------------------------------------------------------------------

    def _start(
        self, service: Service, deadline: float, started: dict[str, ProcessIdentity]
    ) -> ServiceStatus:
        t0 = time.monotonic()
        log = service.log_path
        offset = log_size(log)
        with log.open("a") as out:
            out.write(
                f"--- credit-pipeline: starting {service.product} on {service.address} "
                f"at {datetime.now(UTC).isoformat(timespec='seconds')} ---\n"
            )
        try:
            launch = service.prepare()
            proc = spawn(
                launch.argv, log_path=log, cwd=launch.cwd, env=launch.env, run_as=launch.run_as
            )
        except OSError as exc:  # e.g. a data dir we may not write: say which service
            raise ServiceStartError(
                f"{service.name} ({service.product}) could not be started: {exc}."
                f"{self._tail_text(service, offset)}",
                service=service.name,
            ) from exc
        self._children[service.name] = proc
        identity = identify(proc.pid)
        if identity is None:  # died before we could even look at it
            code = proc.wait()
            raise self._exit_error(service, code, offset)
        started[service.name] = identity
        write_pid_file(self.paths.pid_file(service.name), PidRecord(identity, service.address))
        logger.info(
            "%s: started %s (pid %d) on %s",
            service.name,
            service.product,
            proc.pid,
            service.address,
        )
        probe = self._await_ready(service, proc.poll, deadline, offset)
        logger.info("%s: ready in %.2fs (%s)", service.name, time.monotonic() - t0, probe.detail)
        return ServiceStatus(
            service.name, service.address, ServiceState.RUNNING, proc.pid, True, probe.detail
        )

    def _await_existing(
        self, service: Service, record: PidRecord, deadline: float
    ) -> ServiceStatus:
        identity = record.identity

        def exit_code() -> int | None:
            return None if identity.is_alive() else _UNKNOWN_EXIT  # not our child

        probe = self._await_ready(service, exit_code, deadline, offset=0)
        return ServiceStatus(
            service.name,
            service.address,
            ServiceState.RUNNING,
            identity.pid,
            True,
            f"already running; {probe.detail}",
        )

    def _await_ready(
        self,
        service: Service,
        exit_code: Callable[[], int | None],
        deadline: float,
        offset: int,
    ) -> Probe:
        """Probe until the server answers; fail fast if it exits or can never answer."""
        while True:
            code = exit_code()
            if code is not None:
                raise self._exit_error(service, code, offset)
            remaining = deadline - time.monotonic()
            probe = service.probe_startup(max(0.2, min(2.0, remaining)))
            if probe.ok:
                return self._finish_setup(service, probe, offset)
            if probe.fatal:
                raise ServiceStartError(
                    f"{service.name} ({service.product}) on {service.address} cannot be used: "
                    f"{probe.detail}.{self._tail_text(service, offset)}",
                    service=service.name,
                )
            if time.monotonic() >= deadline:
                code = exit_code()
                if code is not None:
                    raise self._exit_error(service, code, offset)
                raise ServiceNotReadyError(
                    f"{service.name} ({service.product}) did not answer on {service.address} in "
                    f"time: {probe.detail}.{self._tail_text(service, offset)}",
                    service=service.name,
                )
            time.sleep(_POLL_SECONDS)

    def _finish_setup(self, service: Service, probe: Probe, offset: int) -> Probe:
        try:
            final = service.on_ready(probe)
        except StackError:
            raise
        except Exception as exc:  # a driver error during setup: report it as ours
            raise ServiceStartError(
                f"{service.name} ({service.product}) answers on {service.address}, but its "
                f"setup failed: {exc}{self._tail_text(service, offset)}",
                service=service.name,
            ) from exc
        if not final.ok:
            raise ServiceStartError(
                f"{service.name} ({service.product}) answers on {service.address}, but not after "
                f"setup: {final.detail}.{self._tail_text(service, offset)}",
                service=service.name,
            )
        return final

    def _exit_error(self, service: Service, code: int, offset: int) -> ServiceStartError:
        if code == _UNKNOWN_EXIT:
            how = "unexpectedly"
        elif code < 0:
            how = f"killed by signal {-code}"
        else:
            how = f"with exit code {code}"
        return ServiceStartError(
            f"{service.name} ({service.product}) exited {how} during start-up on "
            f"{service.address}.{self._tail_text(service, offset)}",
            service=service.name,
        )

    def _tail_text(self, service: Service, offset: int) -> str:
        return f"\nLast lines of {service.log_path}:\n{log_tail(service.log_path, since=offset)}"

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
        # Process identity (start time) and group scans read /proc.
        if not Path("/proc/self/stat").exists():
            raise StackError(
                "the embedded stack needs Linux (/proc); elsewhere run Kafka, Redis and "
                "Postgres yourself and set CREDIT_STACK=external."
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
        pid_file = self.paths.pid_file(service.name)
        record = read_pid_file(pid_file)
        if record is None or not record.identity.is_alive():
            remove_pid_file(pid_file)
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

    def _stop_one(self, service: Service, identity: ProcessIdentity, timeout: float) -> str:
        try:
            outcome = stop(identity, service.stop_signal, timeout)
        except PermissionError as exc:
            raise StackError(
                f"{service.name}: not allowed to signal pid {identity.pid} ({exc.strerror}); "
                "it was started by another user: run `credit-pipeline stack down` as that user.",
                service=service.name,
            ) from exc
        child = self._children.pop(service.name, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=1.0)  # reap it; `stop` already saw it gone
        remove_pid_file(self.paths.pid_file(service.name))
        logger.info("%s: %s", service.name, outcome)
        return outcome

    def _rollback(self, service: Service, identity: ProcessIdentity) -> None:
        try:
            self._stop_one(service, identity, _ROLLBACK_STOP_SECONDS)
        except Exception:  # keep the original error; this one is only logged
            logger.exception(
                "%s: could not stop pid %d after a failed start", service.name, identity.pid
            )

    def _stopped(self, service: Service, detail: str) -> ServiceStatus:
        return ServiceStatus(
            service.name, service.address, ServiceState.STOPPED, None, False, detail
        )

    # -- checking ----------------------------------------------------------------------------

    def _await_external(self, service: Service, deadline: float) -> ServiceStatus:
        while True:
            remaining = deadline - time.monotonic()
            probe = service.probe(max(0.2, min(2.0, remaining)))
            if probe.ok:
                return ServiceStatus(
                    service.name, service.address, ServiceState.EXTERNAL, None, True, probe.detail
                )
            if probe.fatal or time.monotonic() >= deadline:
                raise ServiceNotReadyError(
                    f"{service.name}: the external service at {service.address} does not answer"
                    f"{' in time' if not probe.fatal else ''}: {probe.detail}. The stack is "
                    "external (CREDIT_STACK=external), so nothing was started; start it or fix "
                    "its address.",
                    service=service.name,
                )
            time.sleep(_POLL_SECONDS)

    def _status_one(self, service: Service) -> ServiceStatus:
        if self.external:
            probe = service.probe(_STATUS_PROBE_SECONDS)
            return ServiceStatus(
                service.name, service.address, ServiceState.EXTERNAL, None, probe.ok, probe.detail
            )
        record = read_pid_file(self.paths.pid_file(service.name))
        if record is not None and record.identity.is_alive():
            probe = service.probe(_STATUS_PROBE_SECONDS)
            return ServiceStatus(
                service.name,
                service.address,
                ServiceState.RUNNING,
                record.identity.pid,
                probe.ok,
                probe.detail,
            )
        if port_accepts(service.host, service.port, 0.5):
            probe = service.probe(_STATUS_PROBE_SECONDS)
            return ServiceStatus(
                service.name,
                service.address,
                ServiceState.EXTERNAL,
                None,
                probe.ok,
                f"not started by this stack; {probe.detail}",
            )
        detail = "not running" + (" (stale pid file)" if record is not None else "")
        return self._stopped(service, detail)

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
