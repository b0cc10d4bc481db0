"""The naive baselines of the ingestion benchmark: a faust agent that calls Feast's `store.push`.

`python -m bench.push_agent --mode per-event|batch|none` (settings from CREDIT_* variables).
Each event is validated like the processor does, then pushed to the online store only
(`PushMode.ONLINE`: Feast's Postgres offline store cannot be pushed to). `per-event` calls
`store.push` with a one-row frame per event; `batch` calls it once per view per batch of up to
`--batch-rows` events; `none` writes nowhere (the ceiling of faust consumption plus
validation on this machine). Nothing is written to Postgres.
"""

from __future__ import annotations

# Before Feast (see stream_processor/__init__.py): keeps this process's metrics in memory.
import prometheus_client  # isort: skip

import argparse
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import faust
from faust.types import TransportT

from core.contract import CREATED_TIMESTAMP, EVENT_TIMESTAMP
from core.events import UpdateEvent, parse_event, view_of_topic
from core.logs import configure_logging
from core.settings import Settings
from stream_processor import kafka
from stream_processor.faust_app import app_options, update_topics

log = logging.getLogger("bench.push_agent")


class _App(faust.App):
    """faust.App on the processor's corrected transport (fetch wait, stale acks)."""

    fetch_max_wait_ms: int = 500

    def _new_transport(self) -> TransportT:
        return kafka.Transport(self.conf.broker_consumer, self)


def frame(events: Sequence[UpdateEvent]) -> Any:
    """A `store.push` frame: entity key, every feature, event and created time."""
    import pandas as pd

    created = datetime.now(UTC)
    return pd.DataFrame(
        [{**e.row, EVENT_TIMESTAMP: e.event_timestamp, CREATED_TIMESTAMP: created} for e in events]
    )


def build_app(settings: Settings, mode: str, batch_rows: int) -> faust.App:
    """The baseline agent: same broker options as the processor, Feast's push as the sink."""
    from feast.data_source import PushMode

    from core.feast_store import open_store

    store = open_store(settings)
    # Scraped as bench_agent_events_pushed_total (bench.consumers.PUSHED).
    pushed = prometheus_client.Counter("bench_agent_events_pushed", "Events pushed online")
    app = _App(settings.consumer_group, **app_options(settings))
    app.fetch_max_wait_ms = settings.kafka_fetch_max_wait_ms
    source = update_topics(app, settings)
    within = max(settings.batch_max_wait_ms, 1) / 1000

    def parse(event: Any) -> UpdateEvent:
        return parse_event(view_of_topic(event.message.topic, settings.topic_prefix), event.value)

    def push(events: Sequence[UpdateEvent]) -> None:
        groups: dict[str, list[UpdateEvent]] = {}
        for event in events:
            groups.setdefault(event.view.name, []).append(event)
        for group in groups.values():
            # Blocking, on the event loop: that is what the naive path does.
            store.push(group[0].view.push_source.name, frame(group), to=PushMode.ONLINE)
        pushed.inc(len(events))

    @app.agent(source, name="bench-push-agent")
    async def agent(stream: faust.StreamT[bytes]) -> None:
        if mode == "per-event":
            async for event in stream.events():
                push([parse(event)])
            return
        # take_events is on faust.Stream, not on the StreamT protocol the agent is typed with.
        batches = cast(faust.Stream[bytes], stream).take_events(batch_rows, within)
        async for events in batches:
            if mode == "none":
                pushed.inc(len([parse(e) for e in events]))
            else:
                push([parse(e) for e in events])

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
        assigned = args[0] if args else kwargs.get("assigned", set())
        log.info("assigned %d partitions", len(assigned))

    return app


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.push_agent", description=__doc__)
    parser.add_argument("--mode", choices=("per-event", "batch", "none"), required=True)
    parser.add_argument("--batch-rows", type=int, default=1000)
    args = parser.parse_args()
    configure_logging(label="push-agent")
    settings = Settings()
    from faust import Worker

    app = build_app(settings, args.mode, args.batch_rows)
    prometheus_client.start_http_server(settings.metrics_port, addr="127.0.0.1")
    log.info("push agent ready (%s)", args.mode)
    worker = Worker(app, quiet=True, override_logging=False, redirect_stdouts=False)
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
