"""One server of the stack: start it, wait until it answers, stop it, say how it is."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime

from core.ports import port_accepts
from core.processes import ProcessIdentity, stop_process
from core.supervisor import ChildProcess, log_size, log_tail
from local_stack.errors import ServiceNotReadyError, ServiceStartError, StackError
from local_stack.health import Probe
from local_stack.pidfile import PidRecord, read_pid_file, remove_pid_file, write_pid_file
from local_stack.service import Service
from local_stack.status import ServiceState, ServiceStatus

logger = logging.getLogger(__name__)

_POLL_SECONDS = 0.05
_STATUS_PROBE_SECONDS = 2.0


def start_server(
    service: Service, deadline: float, started: dict[str, ChildProcess]
) -> ServiceStatus:
    """Start the server in its own session, note it in `started` and its pid file, await it."""
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
        child = ChildProcess(
            service.name,
            launch.argv,
            env=launch.env,
            cwd=launch.cwd,
            log_path=log,
            run_as=launch.run_as,
            stop_signal=service.stop_signal,
        ).start()
    except OSError as exc:  # e.g. a data dir we may not write: say which service
        raise ServiceStartError(
            f"{service.name} ({service.product}) could not be started: {exc}."
            f"{_tail_text(service, offset)}",
            service=service.name,
        ) from exc
    started[service.name] = child
    if child.identity is None:  # died before we could even look at it
        child.wait()
        raise _exit_error(service, child.describe_exit(), offset)
    write_pid_file(service.pid_file, PidRecord(child.identity, service.address))
    logger.info(
        "%s: started %s (pid %d) on %s", service.name, service.product, child.pid, service.address
    )

    def exited() -> str | None:
        return None if child.is_running() else child.describe_exit()

    probe = _await_ready(service, exited, deadline, offset)
    logger.info("%s: ready in %.2fs (%s)", service.name, time.monotonic() - t0, probe.detail)
    return ServiceStatus(
        service.name, service.address, ServiceState.RUNNING, child.pid, True, probe.detail
    )


def await_existing(service: Service, record: PidRecord, deadline: float) -> ServiceStatus:
    """Wait until a server an earlier `up` started answers."""
    identity = record.identity

    def exited() -> str | None:
        return None if identity.is_alive() else "exited unexpectedly"  # not our child

    probe = _await_ready(service, exited, deadline, offset=0)
    return ServiceStatus(
        service.name,
        service.address,
        ServiceState.RUNNING,
        identity.pid,
        True,
        f"already running; {probe.detail}",
    )


def _await_ready(
    service: Service, exited: Callable[[], str | None], deadline: float, offset: int
) -> Probe:
    """Probe until the server answers; fail fast if it exits or can never answer."""
    while True:
        how = exited()
        if how is not None:
            raise _exit_error(service, how, offset)
        remaining = deadline - time.monotonic()
        probe = service.probe_startup(max(0.2, min(2.0, remaining)))
        if probe.ok:
            return _finish_setup(service, probe, offset)
        if probe.fatal:
            raise ServiceStartError(
                f"{service.name} ({service.product}) on {service.address} cannot be used: "
                f"{probe.detail}.{_tail_text(service, offset)}",
                service=service.name,
            )
        if time.monotonic() >= deadline:
            how = exited()
            if how is not None:
                raise _exit_error(service, how, offset)
            raise ServiceNotReadyError(
                f"{service.name} ({service.product}) did not answer on {service.address} in "
                f"time: {probe.detail}.{_tail_text(service, offset)}",
                service=service.name,
            )
        time.sleep(_POLL_SECONDS)


def _finish_setup(service: Service, probe: Probe, offset: int) -> Probe:
    try:
        final = service.on_ready(probe)
    except StackError:
        raise
    except Exception as exc:  # a driver error during setup: report it as ours
        raise ServiceStartError(
            f"{service.name} ({service.product}) answers on {service.address}, but its "
            f"setup failed: {exc}{_tail_text(service, offset)}",
            service=service.name,
        ) from exc
    if not final.ok:
        raise ServiceStartError(
            f"{service.name} ({service.product}) answers on {service.address}, but not after "
            f"setup: {final.detail}.{_tail_text(service, offset)}",
            service=service.name,
        )
    return final


def _exit_error(service: Service, how: str, offset: int) -> ServiceStartError:
    return ServiceStartError(
        f"{service.name} ({service.product}) {how} during start-up on "
        f"{service.address}.{_tail_text(service, offset)}",
        service=service.name,
    )


def _tail_text(service: Service, offset: int) -> str:
    return f"\nLast lines of {service.log_path}:\n{log_tail(service.log_path, since=offset)}"


def stop_server(
    service: Service,
    identity: ProcessIdentity,
    timeout: float,
    child: ChildProcess | None = None,
    sig: signal.Signals | None = None,
) -> str:
    """Its stop signal (or `sig`), SIGKILL to its group after `timeout`; the pid file goes."""
    try:
        if child is not None:  # started by this process: stopped and reaped as our child
            outcome = child.stop(timeout, sig)
        else:
            outcome = stop_process(identity, sig or service.stop_signal, timeout)
    except PermissionError as exc:
        raise StackError(
            f"{service.name}: not allowed to signal pid {identity.pid} ({exc.strerror}); "
            "it was started by another user: run `credit-pipeline stack down` as that user.",
            service=service.name,
        ) from exc
    remove_pid_file(service.pid_file)
    logger.info("%s: %s", service.name, outcome)
    return outcome


def stopped(service: Service, detail: str) -> ServiceStatus:
    return ServiceStatus(service.name, service.address, ServiceState.STOPPED, None, False, detail)


def await_external(service: Service, deadline: float) -> ServiceStatus:
    """Wait until a service run elsewhere answers (nothing is started)."""
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


def status_of(service: Service, external: bool) -> ServiceStatus:
    """Who runs the service (its pid file, or someone else), and whether it answers now."""
    if external:
        probe = service.probe(_STATUS_PROBE_SECONDS)
        return ServiceStatus(
            service.name, service.address, ServiceState.EXTERNAL, None, probe.ok, probe.detail
        )
    record = read_pid_file(service.pid_file)
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
    return stopped(service, detail)
