"""Long-lived parts of an API process, built once at start-up and closed at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from core.contract import ENTITY_KEYS
from core.errors import CreditPipelineError
from core.feast_store import PROJECT
from core.settings import OnlineReaderKind, Settings
from scoring_api.core.config import ApiConfig
from scoring_api.core.errors import OnlineStoreUnavailable
from scoring_api.service.decision_log import DecisionPublisher, UnloggedDecisions
from scoring_api.service.features import (
    FeastFeatureSource,
    FeatureSource,
    OnlineFeatureReader,
    OnlineStoreHealth,
)
from scoring_api.service.metrics import ApiMetrics
from scoring_api.service.model import ServedModel
from scoring_api.service.redis_reader import RedisFeatureSource
from scoring_api.service.scoring import LoanScorer
from scoring_api.service.store import open_serving_store

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger(__name__)

_TOPIC_CHECK_SECONDS = 5.0

# A key that cannot exist (fails the dob_ssn format): the warm-up read finds nothing.
_WARM_UP_ROW: dict[str, Any] = {
    name: ("00000000_0000" if key.kind == "string" else 0) for name, key in ENTITY_KEYS.items()
}


def _ensure_decision_topic(settings: Settings) -> None:
    """Create the decision topic if missing (with the configured partitions, not whatever a
    broker would auto-create). An unreachable broker does not stop the API: decisions are
    buffered until it answers (scoring_api/service/decision_log.py)."""
    from core.topics import ensure_topics

    try:
        ensure_topics(settings, timeout=_TOPIC_CHECK_SECONDS, names=[settings.decision_topic])
    except CreditPipelineError as exc:
        log.warning("decision log: cannot check topic %s now: %s", settings.decision_topic, exc)


class StartupError(CreditPipelineError):
    """The API cannot start: a model or the feature registry is not usable."""


@dataclass
class ApiRuntime:
    """The model, the Feast store, the scorer, a Redis client (the direct reads and readiness
    checks) and where decisions go (the decision log; with CREDIT_DECISION_LOG off, only the
    metrics)."""

    config: ApiConfig
    model: ServedModel
    store: FeatureStore
    scorer: LoanScorer
    redis: Redis
    decisions: DecisionPublisher | UnloggedDecisions
    metrics: ApiMetrics

    @classmethod
    async def start(cls, config: ApiConfig, metrics: ApiMetrics | None = None) -> ApiRuntime:
        """Load the model and open the store; fail fast if either is unusable. `metrics`: the
        app's (a registry of its own by default)."""
        metrics = metrics or ApiMetrics()
        started = time.perf_counter()
        # Both block for a while (unpickling; `import feast` ~5 s, a registry read): in a
        # thread, so a server's other start-up work is not held up.
        model = await asyncio.to_thread(ServedModel.load, config.model_dir, config.model_version)
        try:
            store = await asyncio.to_thread(open_serving_store, config.settings)
        except Exception as exc:  # Feast/SQLAlchemy raise many types for an unreachable registry
            raise StartupError(
                f"cannot open the Feast registry in {config.settings.postgres_url_masked} "
                f"({type(exc).__name__}). Is the stack up and initialised "
                "(`credit-pipeline init`)?"
            ) from exc
        await store.initialize()  # Feast's hook for long-lived online-store clients
        health = OnlineStoreHealth(
            config.settings.redis_address, metrics.store_state("online_store")
        )
        timeout = config.online_timeout_s
        redis = Redis.from_url(
            config.settings.redis_url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # One retry, on a new connection: a pooled one may be dead since Redis restarted.
            # The reader's time limit bounds both tries.
            retry=Retry(NoBackoff(), 1),
        )
        source: FeatureSource
        if config.settings.online_reader is OnlineReaderKind.DIRECT:
            source = RedisFeatureSource(redis, PROJECT, model.feature_refs)
        else:
            source = FeastFeatureSource(store, model.feature_refs)
        reader = OnlineFeatureReader(source, timeout, health)
        decisions: DecisionPublisher | UnloggedDecisions = UnloggedDecisions(metrics)
        if config.settings.decision_log:
            await asyncio.to_thread(_ensure_decision_topic, config.settings)
            decisions = DecisionPublisher(config.settings, metrics)
        scorer = LoanScorer(model, reader)
        runtime = cls(config, model, store, scorer, redis, decisions, metrics)
        if isinstance(decisions, DecisionPublisher):
            decisions.start()
        await runtime.warm_up()
        # Feast, pandas and scikit-learn leave ~250k long-lived objects that every full
        # collection re-scans (130 ms measured: a latency spike every few thousand requests).
        # Freezing them exempts them from collection; request garbage is still collected.
        gc.collect()
        gc.freeze()
        log.info(
            "scoring API ready in %.1f s: model %s", time.perf_counter() - started, model.version
        )
        return runtime

    async def warm_up(self) -> None:
        """One read first: it opens the connection (and Feast's first read builds clients and
        caches, ~200 ms)."""
        # Unreachable: the reader's health logs the outage's start (and later its end).
        with contextlib.suppress(OnlineStoreUnavailable):
            await self.scorer.reader.read(_WARM_UP_ROW, datetime.now(UTC))

    async def online_store_check(self) -> tuple[bool, str]:
        """Whether Redis answers a PING now. The answer feeds the online store's outage
        state too: behind a load balancer that stops sending requests to an unready API,
        readiness probes are what see the store come back."""
        health = self.scorer.reader.health
        begun = health.begin()
        try:
            async with asyncio.timeout(self.config.online_timeout_s):
                # redis-py types ping() for its sync and async clients at once
                await cast("Awaitable[bool]", self.redis.ping())
        except (RedisError, OSError, TimeoutError) as exc:
            health.failed(f"PING: {type(exc).__name__}", begun)
            return False, f"unreachable ({type(exc).__name__})"
        health.succeeded()
        return True, "reachable"

    def decision_log_check(self) -> tuple[bool, str]:
        """Whether a decision can be recorded now (room in the publish buffer)."""
        log = self.decisions
        if not isinstance(log, DecisionPublisher):
            return True, "off (CREDIT_DECISION_LOG=false): decisions are not recorded"
        waiting = log.buffered
        if waiting >= log.capacity:
            return (
                False,
                f"buffer full ({waiting} decisions waiting for the broker; {log.refused} refused)",
            )
        state = "broker unreachable" if log.broker_down else "broker reachable"
        counts = f"{log.delivered} delivered, {log.refused} refused, {log.failed} failed"
        return True, (
            f"{state}, {waiting} decisions waiting (room for {log.capacity}); since start: {counts}"
        )

    async def close(self) -> None:
        await self.decisions.close()
        await self.redis.aclose()
        await self.store.close()
