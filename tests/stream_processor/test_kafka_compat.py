"""stream_processor/kafka.py reaches into aiokafka and faust; these fail loudly when the
locked versions change under it (then re-read the code these checks point at)."""

from __future__ import annotations

import asyncio
import inspect

import aiokafka
import faust
from aiokafka.consumer.consumer import AIOKafkaConsumer
from aiokafka.consumer.fetcher import Fetcher
from aiokafka.consumer.group_coordinator import GroupCoordinator
from faust.transport.drivers import aiokafka as faust_aiokafka

from stream_processor.kafka import set_fetch_max_wait


def test_the_locked_versions_are_the_ones_this_was_written_against() -> None:
    assert aiokafka.__version__ == "0.14.0"
    assert faust.__version__ == "0.15.3"


def test_the_fetch_wait_goes_from_the_consumer_to_the_fetcher_to_each_request() -> None:
    start = inspect.getsource(AIOKafkaConsumer.start)
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in start
    build = inspect.getsource(Fetcher._get_actions_per_node)
    assert "self._fetch_max_wait_ms" in build
    assert "self._fetch_max_wait_ms = fetch_max_wait_ms" in inspect.getsource(Fetcher.__init__)


def test_set_fetch_max_wait_before_the_consumer_starts() -> None:
    async def build() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9")  # wants a running loop

    consumer = asyncio.run(build())
    assert consumer._fetcher is None
    set_fetch_max_wait(consumer, 123)
    assert consumer._fetch_max_wait_ms == 123


def test_faust_creates_its_consumer_and_thread_where_the_overrides_hook_in() -> None:
    thread = faust_aiokafka.AIOKafkaConsumerThread
    assert "_create_worker_consumer" in vars(thread)
    assert "_new_consumer_thread" in vars(faust_aiokafka.Consumer)
    # faust keeps the messages it waits an ack for here (the stale-ack correction edits it).
    assert "_unacked_messages" in inspect.getsource(faust.transport.consumer.Consumer.ack)


def test_a_coordinator_closes_without_waiting_for_a_coordination_task_already_done() -> None:
    # abandon_join cancels the task and awaits it; close() must then skip it, not await it again.
    close = inspect.getsource(GroupCoordinator.close)
    assert "if not self._coordination_task.done():" in close
    assert "self._coordination_task = create_task" in inspect.getsource(GroupCoordinator.__init__)
