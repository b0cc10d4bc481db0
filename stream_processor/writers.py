"""The two stores a batch goes to: Feast's online write path (Redis) and the Postgres tables."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import psycopg2
import redis.exceptions

from core.contract import VIEWS, ViewContract
from core.errors import OfflineStoreError
from core.events import UpdateEvent
from core.offline_store import PostgresOfflineWriter
from core.settings import Settings
from stream_processor.batching import offline_rows
from stream_processor.errors import FeatureViewNotRegistered

if TYPE_CHECKING:
    from feast import FeatureStore, FeatureView

T = TypeVar("T")
W = TypeVar("W", bound=PostgresOfflineWriter)

# A store that neither answers nor refuses (a hung host) must not hold the batch forever:
# past this, the write counts as failed (an outage) and is retried.
DEFAULT_WRITE_TIMEOUT_SECONDS = 10.0

ONLINE_TRANSIENT: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    TimeoutError,
    OSError,
)
OFFLINE_TRANSIENT: tuple[type[BaseException], ...] = (
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    OfflineStoreError,
    TimeoutError,
)


class OnlineWriter(Protocol):
    """Writes the newest values of entities online."""

    address: str

    async def write(self, view: ViewContract, events: Sequence[UpdateEvent]) -> None: ...


class OfflineWriter(Protocol):
    """Appends every event of a batch offline; returns the rows that were new."""

    address: str

    async def write(
        self, groups: Mapping[str, Sequence[UpdateEvent]], created: datetime
    ) -> int: ...


def push_targets(store: FeatureStore, view: ViewContract) -> list[FeatureView]:
    """The registered feature views fed by the view's push source (what `store.push` writes)."""
    push_name = view.push_source_name
    targets = [
        fv
        for fv in store.list_feature_views(allow_cache=True)
        if fv.stream_source is not None and fv.stream_source.name == push_name
    ]
    if not targets:
        raise FeatureViewNotRegistered(
            f"push source {push_name!r} feeds no feature view in the Feast registry of project "
            f"{store.project!r}; run `credit-pipeline init` to apply the feature repository"
        )
    for fv in targets:
        missing = {f.name for f in fv.features} - set(view.feature_names)
        if missing:
            raise FeatureViewNotRegistered(
                f"registered feature view {fv.name!r} has features {sorted(missing)} that "
                f"{view.name!r} events do not carry; re-apply the feature repository"
            )
    return targets


def check_registered(registered: set[str], project: str, views: Sequence[ViewContract]) -> None:
    """Every view the processor writes must be a feature view of the Feast registry (else Feast
    reads would not know the values the processor writes online)."""
    missing = sorted(v.name for v in views if v.name not in registered)
    if missing:
        raise FeatureViewNotRegistered(
            f"feature views {missing} are not in the Feast registry of project {project!r}; "
            "run `credit-pipeline init` to apply the feature repository"
        )


class FeastOnlineWriter:
    """Writes through Feast's own online write path with feature views resolved once.

    `store.push` lists and deserializes every feature view of the registry per call and
    converts pandas -> arrow -> protobuf; this writer resolves the push targets at start-up and
    hands protobuf rows straight to the provider (`feast_compat`). The stored bytes are the ones
    `store.push` writes, and Feast's Redis writer still skips a row that is not newer than the
    stored one.
    """

    def __init__(
        self,
        store: FeatureStore,
        address: str,
        views: Sequence[ViewContract] = VIEWS,
        timeout: float = DEFAULT_WRITE_TIMEOUT_SECONDS,
    ) -> None:
        # Imported here: Feast's protobuf modules load all of Feast (the direct writer never).
        from stream_processor.feast_compat import online_writer
        from stream_processor.online_rows import online_rows

        self.address = address
        self._rows = online_rows
        self._write = online_writer(store)
        self._targets = {v.name: push_targets(store, v) for v in views}
        self._timeout = timeout

    @classmethod
    def open(cls, settings: Settings) -> FeastOnlineWriter:
        from core.feast_store import open_store

        address = settings.redis_address
        return cls(open_store(settings), address, timeout=settings.store_timeout_seconds)

    async def write(self, view: ViewContract, events: Sequence[UpdateEvent]) -> None:
        rows = self._rows(view, events)
        for target in self._targets[view.name]:
            try:
                await asyncio.wait_for(self._write(target, rows), self._timeout)
            except TimeoutError:
                raise TimeoutError(f"no answer within {self._timeout:g} s") from None


class PostgresThread(Generic[W]):
    """Runs calls on one Postgres connection from its own thread (psycopg2 blocks).

    One thread, so attempts never share the connection; a call that outlives the timeout has
    its connection broken under it (`abort`), which frees the thread for the next attempt.
    """

    def __init__(self, writer: W, timeout: float, name: str) -> None:
        self.writer = writer
        self._timeout = timeout
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def _blocking(self, call: Callable[[W], T]) -> T:
        try:
            return call(self.writer)
        except psycopg2.InterfaceError as exc:
            # psycopg2 reports a connection the server dropped as "connection already closed"
            # (raised by the rollback), which hides the error that says why.
            self.writer.close()
            cause = exc.__context__ if exc.__context__ is not None else exc
            raise OfflineStoreError(f"connection lost: {str(cause).strip()}") from exc
        except Exception:
            # The connection may be broken (server restarted): the next attempt opens a new one.
            self.writer.close()
            raise

    async def run(self, call: Callable[[W], T]) -> T:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._thread, self._blocking, call)
        # After a timeout nobody awaits it any more: fetch its error so asyncio does not log it.
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        try:
            return await asyncio.wait_for(asyncio.shield(future), self._timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            # Hung (or we are shutting down): break the connection so the thread returns. The
            # transaction may still commit on the server; every append here is idempotent.
            self.writer.abort()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise TimeoutError(f"no answer within {self._timeout:g} s") from None

    def close(self) -> None:
        self.writer.abort()
        self._thread.shutdown(wait=False, cancel_futures=True)


class PostgresBatchWriter:
    """Appends batches of update events to the offline tables (`PostgresThread`)."""

    def __init__(self, settings: Settings, views: Sequence[ViewContract] = VIEWS) -> None:
        self.address = settings.postgres_url_masked
        self._views = {v.name: v for v in views}
        self._postgres = PostgresThread(
            PostgresOfflineWriter(settings), settings.store_timeout_seconds, "offline-writer"
        )

    def _append(
        self,
        writer: PostgresOfflineWriter,
        groups: Mapping[str, Sequence[UpdateEvent]],
        created: datetime,
    ) -> int:
        inserted = 0
        for name, events in groups.items():
            view = self._views[name]
            inserted += writer.append_rows(view, offline_rows(view, events, created))
        return inserted

    async def write(self, groups: Mapping[str, Sequence[UpdateEvent]], created: datetime) -> int:
        return await self._postgres.run(lambda writer: self._append(writer, groups, created))

    def close(self) -> None:
        self._postgres.close()
