"""The one settings object: every address, port and tunable comes from `CREDIT_*` variables.

Built once at an entry point (the CLI, the API app, a test fixture) and passed down; nothing
else in the project reads `os.environ`. The Feast store is configured from it in code
(`core.feast_store`); `feast_env()` only serves people and tools that run the `feast` CLI on
`feature_repo/feature_store.yaml`.
"""

from __future__ import annotations

import json
import re
import sys
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

REPO_ROOT = Path(__file__).resolve().parent.parent
FEATURE_REPO_DIR = REPO_ROOT / "feature_repo"

# Dev-only default credential for the embedded Postgres. Never use it for a real deployment:
# set CREDIT_POSTGRES_PASSWORD instead.
DEV_POSTGRES_PASSWORD = "credit-dev-only"  # noqa: S105 - marked dev default

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


class StackMode(StrEnum):
    """Who runs the services."""

    EMBEDDED = "embedded"  # `credit-pipeline stack up` starts Tansu, Valkey and Postgres here
    EXTERNAL = "external"  # services already run elsewhere (docker compose, a cluster)


class OnlineWriterKind(StrEnum):
    """How the processor writes Feast's Redis online store."""

    DIRECT = "direct"  # Feast's layout encoded from the contract, one round trip per batch
    FEAST = "feast"  # Feast's own provider write (the reference; slower)


class OnlineReaderKind(StrEnum):
    """How the API reads Feast's Redis online store."""

    DIRECT = "direct"  # one pipelined HMGET per request, values decoded from the layout
    FEAST = "feast"  # Feast's get_online_features_async (the reference; slower)


class Settings(BaseSettings):
    """Configuration of every component; each field is one `CREDIT_<NAME>` variable."""

    model_config = SettingsConfigDict(env_prefix="CREDIT_", extra="ignore", frozen=True)

    stack: StackMode = StackMode.EMBEDDED
    """`embedded`: the CLI starts local services; `external`: use the addresses as given."""

    state_dir: Path = Path(".credit-pipeline")
    """Where the embedded stack keeps pids, logs and data (relative to the working directory)."""

    kafka_host: str = "127.0.0.1"
    """Kafka bootstrap host (the embedded broker listens here)."""

    kafka_port: int = Field(19092, ge=1, le=65535)
    """Kafka bootstrap port."""

    redis_host: str = "127.0.0.1"
    """Redis/Valkey host of the Feast online store."""

    redis_port: int = Field(16379, ge=1, le=65535)
    """Redis/Valkey port."""

    redis_password: SecretStr | None = None
    """Redis password, if the server requires one."""

    postgres_host: str = "127.0.0.1"
    """Postgres host of the offline store and the Feast registry."""

    postgres_port: int = Field(15432, ge=1, le=65535)
    """Postgres port."""

    postgres_db: str = "credit"
    """Postgres database name."""

    postgres_user: str = "credit"
    """Postgres user."""

    postgres_password: SecretStr = SecretStr(DEV_POSTGRES_PASSWORD)
    """Postgres password. The default is a dev-only credential for the embedded stack."""

    postgres_schema: str = "credit"
    """Schema holding the offline tables (credit_history, zipcode_features, loans)."""

    pg_system_user: str = "credit-pg"
    """Unprivileged OS user that runs the embedded Postgres when the CLI runs as root."""

    pg_system_dir: Path = Path("/var/lib/credit-pipeline")
    """As root: where the Postgres binaries and cluster go when that user cannot reach ours."""

    # -- streaming ----------------------------------------------------------------------------

    topic_prefix: str = ""
    """Prepended to every topic name (`credit-history`, `zipcode-features`, `dead-letter`)."""

    topic_partitions: int = Field(4, ge=1, le=1024)
    """Partitions of the update topics when the pipeline creates them (= max useful workers)."""

    consumer_group: str = "credit-stream-processor"
    """Kafka consumer group (faust app id) shared by all stream-processor workers."""

    batch_max_size: int = Field(1000, ge=1, le=100_000)
    """Most events written to the stores in one micro-batch."""

    batch_max_wait_ms: int = Field(20, ge=0, le=60_000)
    """Longest an event waits for its micro-batch to fill before the batch is written."""

    kafka_fetch_max_wait_ms: int = Field(10, ge=0, le=10_000)
    """Broker-side wait of a fetch; low keeps freshness on brokers that wait the full time
    (Tansu). Raised automatically, up to the cap, while fetches come back empty although
    records wait (docs/reliability.md). On Apache Kafka use its default, 500."""

    kafka_fetch_max_wait_cap_ms: int = Field(5_000, ge=0, le=60_000)
    """Highest fetch wait the processor raises CREDIT_KAFKA_FETCH_MAX_WAIT_MS to."""

    max_future_seconds: int = Field(300, ge=0)
    """Events stamped further than this ahead of the processor's clock are dead-lettered."""

    max_event_bytes: int = Field(65_536, ge=1_024, le=10_000_000)
    """Largest record (key + value + headers) the processor accepts; larger ones are
    dead-lettered as "too large" with a truncated copy."""

    faust_settings: dict[str, Any] = Field(default_factory=dict)
    """More faust app settings for the processor, as a JSON object (e.g.
    `{"stream_buffer_maxsize": 8192}`), applied over its own; each name must be a faust
    setting. BENCHMARKS.md has what the ones that matter change."""

    online_writer: OnlineWriterKind = OnlineWriterKind.DIRECT
    """`direct` writes Feast's Redis layout itself (byte for byte what Feast writes); `feast`
    goes through Feast's own write path, the reference."""

    max_batches_in_flight: int = Field(4, ge=1, le=1_000)
    """Batches a worker may have taken and not yet written to both stores. Each store is
    written at its own pace, so one runs ahead of the other (Postgres slow or down) by at most
    this many batches; then the worker stops reading until the other catches up. No offset is
    committed before both stores hold its batch."""

    store_timeout_seconds: float = Field(10.0, gt=0, le=600)
    """Longest one write to a store (Redis, Postgres, the dead-letter topic) may take before it
    counts as an outage and is retried."""

    stall_seconds: float = Field(30.0, gt=0)
    """A worker with lag that has written nothing for this long reports a stall (log, metric)."""

    shutdown_grace_seconds: float = Field(15.0, gt=0, le=600)
    """On SIGTERM, how long a worker waits for the batch in flight before it exits without
    committing it (it is redelivered)."""

    durable_commits: bool = True
    """Embedded stack: Postgres `synchronous_commit=on`, Valkey `appendfsync always`, so no
    acknowledged write is lost when a server crashes. `false` is faster and LOSSY."""

    decision_log: bool = True
    """The API publishes every decision to the `loan-decisions` topic and the processor appends
    it to Postgres (docs/decisions.md). `false` turns the log off (e.g. a benchmark baseline);
    decisions are then not recorded anywhere."""

    decision_log_buffer: int = Field(50_000, ge=1, le=10_000_000)
    """Decisions an API worker holds while the broker is unreachable. When it is full, the
    API answers 503 `decision_log_unavailable`: a decision that cannot be recorded is not made."""

    metrics_host: str = "127.0.0.1"
    """Address the processor's Prometheus endpoint binds to."""

    metrics_port: int = Field(9464, ge=0, le=65535)
    """Port of the processor's Prometheus endpoint (0: off; workers on one host need distinct
    ports)."""

    online_updates_channel: str = "credit-pipeline:online-updates"
    """Redis pub/sub channel of the processor's online writes, after the topic prefix ("": off)."""

    # -- model and scoring API ---------------------------------------------------------------

    model_dir: Path | None = None
    """Where versioned model artifacts are kept (default: <state_dir>/models)."""

    model_version: str = "latest"
    """Model version the scoring API serves: a version id or `latest`."""

    decision_threshold: float = Field(0.5, gt=0, lt=1)
    """`train` stores it in the artifact: reject a loan when P(default) >= this."""

    api_host: str = "127.0.0.1"
    """Address the scoring API binds to."""

    api_port: int = Field(8000, ge=1, le=65535)
    """Port of the scoring API."""

    api_workers: int = Field(1, ge=1, le=64)
    """Scoring API worker processes (about one per core)."""

    online_timeout_ms: int = Field(250, ge=1)
    """Longest the API waits for the online store before answering 503."""

    online_reader: OnlineReaderKind = OnlineReaderKind.DIRECT
    """`direct` reads Feast's Redis layout itself (the values and event times Feast's read
    gives, in one round trip); `feast` goes through Feast's `get_online_features_async`."""

    api_key: SecretStr | None = None
    """The key this project's own clients (`score`, `produce update`) send to the API; never
    printed. Without it: the file `CREDIT_API_KEY_FILE`, else the running demo's key file."""

    api_key_file: Path | None = None
    """A file holding that key (a Docker secret, say), read when CREDIT_API_KEY is unset."""

    api_trusted_hosts: str = "127.0.0.1,localhost,::1"
    """Host names the API answers to, comma-separated (`*`: any). Another name gets 400:
    a page on another site cannot reach the API by rebinding its own name to this machine."""

    api_max_body_bytes: int = Field(16_384, ge=256, le=16_777_216)
    """Largest request body the API reads; a larger one gets 413 before it is parsed."""

    @property
    def demo_key_file(self) -> Path:
        """Where `demo` keeps the key it made for this machine's clients (mode 0600)."""
        return self.state_path / "demo-api-key"

    def configured_api_key(self) -> str | None:
        """CREDIT_API_KEY, else the contents of CREDIT_API_KEY_FILE; None when neither."""
        if self.api_key is not None:
            return self.api_key.get_secret_value().strip() or None
        if self.api_key_file is not None and self.api_key_file.is_file():
            return self.api_key_file.read_text().strip() or None
        return None

    def client_api_key(self) -> str | None:
        """The key a client of this project sends: the configured one, else the running
        demo's key file; None when there is none."""
        configured = self.configured_api_key()
        if configured is None and self.demo_key_file.is_file():
            return self.demo_key_file.read_text().strip() or None
        return configured

    @property
    def api_trusted_host_names(self) -> list[str]:
        return [name.strip() for name in self.api_trusted_hosts.split(",") if name.strip()]

    @property
    def api_url(self) -> str:
        """Where clients reach the scoring API (a bind-all address means this machine)."""
        host = "127.0.0.1" if self.api_host in ("0.0.0.0", "::") else self.api_host
        return f"http://{host}:{self.api_port}"

    @property
    def model_path(self) -> Path:
        return (
            self.model_dir.resolve() if self.model_dir is not None else self.state_path / "models"
        )

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.topic_prefix}dead-letter"

    @property
    def decision_topic(self) -> str:
        return f"{self.topic_prefix}loan-decisions"

    @property
    def live_channel(self) -> str | None:
        """The prefixed pub/sub channel of online writes; None when notifications are off."""
        if not self.online_updates_channel:
            return None
        return f"{self.topic_prefix}{self.online_updates_channel}"

    @field_validator("postgres_schema", "postgres_db", "postgres_user")
    @classmethod
    def _sql_identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(
                f"{value!r} must be a lower-case SQL identifier (letters, digits, underscore)"
            )
        return value

    # -- derived addresses -------------------------------------------------------------------

    @property
    def kafka_bootstrap_servers(self) -> str:
        return f"{self.kafka_host}:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        auth = ""
        if self.redis_password is not None:
            auth = f":{quote(self.redis_password.get_secret_value(), safe='')}@"
        return f"redis://{auth}{self.redis_host}:{self.redis_port}/0"

    def postgres_dsn(self, *, driver: str = "postgresql", database: str | None = None) -> str:
        """A libpq/SQLAlchemy URL (with the password: never log it, see `postgres_url_masked`)."""
        password = quote(self.postgres_password.get_secret_value(), safe="")
        user = quote(self.postgres_user, safe="")
        db = database or self.postgres_db
        return f"{driver}://{user}:{password}@{self.postgres_host}:{self.postgres_port}/{db}"

    @property
    def postgres_url_masked(self) -> str:
        return (
            f"postgresql://{self.postgres_user}:***@{self.postgres_host}:"
            f"{self.postgres_port}/{self.postgres_db}"
        )

    def postgres_connect_kwargs(self, *, database: str | None = None) -> dict[str, Any]:
        return {
            "host": self.postgres_host,
            "port": self.postgres_port,
            "dbname": database or self.postgres_db,
            "user": self.postgres_user,
            "password": self.postgres_password.get_secret_value(),
            "connect_timeout": 5,
            # A Postgres that hangs instead of refusing must not hold a writer forever.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "options": "-c statement_timeout=120000",
        }

    @property
    def redis_address(self) -> str:
        """`host:port` of Redis, as logs and errors name it (no password)."""
        return f"{self.redis_host}:{self.redis_port}"

    def feast_env(self) -> dict[str, str]:
        """The variables `feature_repo/feature_store.yaml` expands, for the `feast` CLI."""
        redis = self.redis_address
        if self.redis_password is not None:
            redis += f",password={self.redis_password.get_secret_value()}"
        return {
            "CREDIT_FEAST_REDIS": redis,
            "CREDIT_POSTGRES_HOST": self.postgres_host,
            "CREDIT_POSTGRES_PORT": str(self.postgres_port),
            "CREDIT_POSTGRES_DB": self.postgres_db,
            "CREDIT_POSTGRES_USER": self.postgres_user,
            "CREDIT_POSTGRES_PASSWORD": self.postgres_password.get_secret_value(),
            "CREDIT_POSTGRES_SCHEMA": self.postgres_schema,
            "CREDIT_FEAST_REGISTRY_URL": self.postgres_dsn(driver="postgresql+psycopg"),
        }

    @property
    def state_path(self) -> Path:
        return self.state_dir.resolve()


def settings_env(settings: Settings) -> dict[str, str]:
    """`settings` as CREDIT_* variables, so a child process rebuilds exactly these settings."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, Enum):
            value = value.value
        elif isinstance(value, dict):
            value = json.dumps(value)
        env[f"CREDIT_{name.upper()}"] = str(value)
    return env


def load_settings() -> Settings | None:
    """The settings from the environment, or None after naming each bad variable on stderr."""
    try:
        return Settings()
    except ValidationError as exc:
        for err in exc.errors():
            name = "CREDIT_" + "_".join(str(p) for p in err["loc"]).upper()
            sys.stderr.write(f"error: {name}: {err['msg']}\n")
        return None
    except SettingsError as exc:  # a JSON-valued variable that is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"CREDIT_{field.group(1).upper()}" if field else "a CREDIT_ variable"
        sys.stderr.write(f"error: {name}: not valid JSON\n")
        return None
