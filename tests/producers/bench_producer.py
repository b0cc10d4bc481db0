"""Producer throughput on a running broker: `python tests/producers/bench_producer.py [--port P]`.

Not collected by pytest (no `test_` prefix). Each figure is the median of 3 runs of 200k events
to fresh topics, counted from the first send until every delivery is confirmed.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from core.events import UpdateEvent
from core.settings import Settings
from core.topics import ensure_topics
from history import generate_history
from producers.config import PRODUCER_DEFAULTS
from producers.entities import pool_from_history
from producers.producer import EventProducer
from producers.pump import pump
from producers.random_updates import RandomUpdates
from producers.replay import history_events

EVENTS = 200_000
RUNS = 3


EventSource = Callable[[], Iterable[UpdateEvent]]


def _run(settings: Settings, events: EventSource, config: dict[str, Any]) -> float:
    settings = settings.model_copy(update={"topic_prefix": f"bench{uuid.uuid4().hex[:6]}-"})
    ensure_topics(settings)
    batch = events()  # built before the clock starts
    with EventProducer(settings, config=config) as producer:
        result = pump(producer, batch, flush_timeout=120)
    assert result.report.ok and result.report.sent == EVENTS, result.report.summary()
    return result.rate


def _median(
    label: str, settings: Settings, events: EventSource, config: dict[str, Any] | None = None
) -> None:
    rates = [_run(settings, events, config or {}) for _ in range(RUNS)]
    runs = ", ".join(f"{r:,.0f}" for r in rates)
    _say(f"{label:<44} median {statistics.median(rates):>9,.0f} events/s  (runs: {runs})")


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=Settings().kafka_port)
    settings = Settings(kafka_port=parser.parse_args().port)
    _say(
        f"broker {settings.kafka_bootstrap_servers}; load average {os.getloadavg()[0]:.2f}; "
        f"defaults {PRODUCER_DEFAULTS}"
    )
    pool = pool_from_history(generate_history(persons=30_000, zipcodes=20_000))
    # ~200k history rows: the default history has 151k for 30k persons.
    history = generate_history(persons=40_000, zipcodes=26_000)

    def prebuilt() -> list[UpdateEvent]:
        return list(itertools.islice(RandomUpdates(pool, seed=1), EVENTS))

    def random_stream() -> Iterable[UpdateEvent]:
        return itertools.islice(RandomUpdates(pool, seed=1), EVENTS)

    def replay() -> Iterable[UpdateEvent]:
        return itertools.islice(history_events(history), EVENTS)

    start = time.perf_counter()
    _median("send prebuilt events (defaults)", settings, prebuilt)
    _median(
        "send prebuilt events, compression none", settings, prebuilt, {"compression.type": "none"}
    )
    _median("send prebuilt events, linger.ms 10", settings, prebuilt, {"linger.ms": 10})
    _median("stream: generate + send (unpaced)", settings, random_stream)
    _median("replay: history rows -> events + send", settings, replay)
    _say(f"total {time.perf_counter() - start:.0f} s; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
