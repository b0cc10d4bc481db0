"""The broker floor: a plain Kafka consumer that notes when each update event reaches it.

`python -m bench.broker_floor SPEC OUT` (settings from CREDIT_* variables). SPEC is JSON with
`topics`, `group` and `stop_file`. It assigns itself every partition of the topics from their
end (a group id of its own, never joined: no offsets committed, nothing written anywhere), and
until the stop file exists records for every event (event timestamp, wall time the client
handed it over), in microseconds since the epoch. The processor's freshness cannot go below this
on the same broker at the same time: the Kafka hop alone.

Tansu answers a fetch with nothing once listing a partition's batches takes longer than the
fetch wait (docs/reliability.md), so a 1 ms wait stops working after a few thousand batches. The
floor adapts much as the processor does, only sooner: whenever it has not reached the end the
broker reported at its previous check (5 fetch waits and at least 50 ms earlier: a fetch that
answers brings every partition up to that end within one wait), it doubles its fetch wait, up to
CREDIT_KAFKA_FETCH_MAX_WAIT_CAP_MS, and carries on from the next offset of every partition. OUT
lists every wait with when it began.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from bench.verify import micros
from core.contract import EVENT_TIMESTAMP
from core.kafka_clients import client_config
from core.settings import Settings

# Tuned for latency, not throughput (the processor's faust consumer starts at
# CREDIT_KAFKA_FETCH_MAX_WAIT_MS, 10 ms, then batches up to CREDIT_BATCH_MAX_WAIT_MS).
FLOOR_CONSUMER_SETTINGS: dict[str, Any] = {
    "fetch.wait.max.ms": 1,  # the broker answers an empty fetch after 1 ms (default 500)
    "fetch.min.bytes": 1,  # ...and a fetch as soon as one byte is there
    "fetch.error.backoff.ms": 10,  # retry a failed fetch soon (default 500)
    "socket.nagle.disable": True,  # no Nagle delay on the small requests
    "enable.auto.commit": False,  # writes nothing, not even its offsets
}
_POLL_S = 0.05
_MIN_CHECK_S = 0.05
_CHECKS_PER_WAIT = 5
_TIMEOUT_S = 10.0

Offsets = dict[tuple[str, int], int]


class FloorConsumer:
    """A consumer assigned every partition at explicit offsets; re-made with a longer fetch
    wait when it falls behind."""

    def __init__(self, settings: Settings, group: str, topics: list[str]) -> None:
        self._config = {**client_config(settings, "broker-floor"), "group.id": group}
        self._cap_ms = max(settings.kafka_fetch_max_wait_cap_ms, 1)
        self.wait_ms = int(FLOOR_CONSUMER_SETTINGS["fetch.wait.max.ms"])
        self.consumer = self._consumer()
        self.next: Offsets = {}
        for topic in topics:
            meta = self.consumer.list_topics(topic, timeout=_TIMEOUT_S).topics[topic]
            for p in meta.partitions:
                tp = TopicPartition(topic, p)
                self.next[topic, p] = self.consumer.get_watermark_offsets(tp, _TIMEOUT_S)[1]
        self._assign()
        self.waits: list[list[int]] = [[time.time_ns() // 1_000, self.wait_ms]]
        self._ends: Offsets = {}

    def _consumer(self) -> Consumer:
        return Consumer(
            {**self._config, **FLOOR_CONSUMER_SETTINGS, "fetch.wait.max.ms": self.wait_ms}
        )

    def _assign(self) -> None:
        self.consumer.assign([TopicPartition(t, p, o) for (t, p), o in self.next.items()])

    def taken(self, message: Message) -> int | None:
        """The event timestamp of a consumed record, its offset noted; None if unreadable."""
        if message.error() is not None:
            return None
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        value = message.value()
        if topic is None or partition is None or offset is None or value is None:
            return None
        self.next[topic, partition] = offset + 1
        try:
            return micros(datetime.fromisoformat(json.loads(value)[EVENT_TIMESTAMP]))
        except (ValueError, KeyError, TypeError):
            return None

    @property
    def check_interval(self) -> float:
        return max(_MIN_CHECK_S, _CHECKS_PER_WAIT * self.wait_ms / 1000)

    def check(self) -> None:
        """Double the fetch wait when behind the end the previous check saw."""
        ends = {
            (t, p): self.consumer.get_watermark_offsets(TopicPartition(t, p), cached=True)[1]
            for t, p in self.next
        }
        behind = any(offset < self._ends.get(tp, -1) for tp, offset in self.next.items())
        self._ends = ends
        if behind and self.wait_ms < self._cap_ms:
            self.wait_ms = min(2 * self.wait_ms, self._cap_ms)
            self.consumer.close()
            self.consumer = self._consumer()
            self._assign()
            self.waits.append([time.time_ns() // 1_000, self.wait_ms])
            sys.stderr.write(f"broker floor: behind the broker, fetch wait {self.wait_ms} ms\n")
            sys.stderr.flush()


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    out_path = Path(argv[1])
    stop_file = Path(spec["stop_file"])
    floor = FloorConsumer(Settings(), spec["group"], spec["topics"])
    sys.stderr.write(f"broker floor ready: {len(floor.next)} partitions\n")
    sys.stderr.flush()
    samples: list[tuple[int, int]] = []
    errors = 0
    next_check = time.monotonic() + floor.check_interval
    while not stop_file.exists():
        if time.monotonic() >= next_check:  # between polls: no record of a replaced consumer
            floor.check()
            next_check = time.monotonic() + floor.check_interval
        message = floor.consumer.poll(_POLL_S)
        received = time.time_ns() // 1_000  # before any decoding: the hop, not this client
        if message is None:
            continue
        stamp = floor.taken(message)
        if stamp is None:
            errors += 1
        else:
            samples.append((stamp, received))
    floor.consumer.close()
    out_path.write_text(json.dumps({"samples": samples, "errors": errors, "waits": floor.waits}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
