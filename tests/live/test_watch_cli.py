"""`credit-pipeline watch`: flags from the contract, and old -> new for a published update."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Any

import pytest
import redis

from core.contract import ENTITY_KEYS
from core.settings import REPO_ROOT
from live.cli import ENTITY_FLAGS


def test_there_is_one_watch_flag_per_entity_of_the_contract() -> None:
    assert set(ENTITY_FLAGS) == set(ENTITY_KEYS)
    assert all(flag == "--" + name.replace("_", "-") for name, flag in ENTITY_FLAGS.items())


class Lines:
    """The lines a child writes to a pipe, readable with a timeout."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self._queue.put(raw.decode(errors="replace").rstrip("\n"))

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return line
        pytest.fail(f"no line with {text!r} within {timeout} s; got:\n" + "\n".join(self.seen))


def _wait_announced(kit: Any, pubsub: Any, key: str) -> None:
    def announced() -> bool:
        message = pubsub.get_message(timeout=0.2)
        return bool(message and message["type"] == "message" and key.encode() in message["data"])

    kit.wait_until(announced, 30, "the first update to be written")


@pytest.mark.integration
def test_watch_prints_old_to_new_for_a_published_update(kit: Any, processor: Any) -> None:
    key = kit.fresh_dob_ssn()
    client = redis.Redis.from_url(kit.settings.redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(kit.settings.live_channel)
    kit.publish([kit.credit(key, 100)])
    _wait_announced(kit, pubsub, key)

    watch = subprocess.Popen(
        [sys.executable, "-m", "credit_pipeline.cli", "watch", "--dob-ssn", key],
        cwd=REPO_ROOT,
        env=kit.child_env(kit.settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert watch.stdout is not None
        lines = Lines(watch.stdout)
        lines.wait_for("credit_card_due", 90)  # the initial values, read through Feast
        lines.wait_for("watching for changes", 30)
        kit.publish([kit.credit(key, 250)])
        line = lines.wait_for("credit_card_due: 100 -> 250", 30)
        assert "lag" in line and "event" in line
        watch.send_signal(signal.SIGINT)
        assert watch.wait(30) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait(10)
        pubsub.close()
        client.close()
    output = "\n".join(lines.seen)
    assert key not in output  # the key is shown masked
    assert ENTITY_KEYS["dob_ssn"].mask(key) in output
