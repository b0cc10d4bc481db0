"""`score`, `produce update` and `produce stream` beside a running stack and API: no heavy import.

The API has Feast loaded; a client that asks it over HTTP starts in well under a second
instead of paying `import feast` (~5 s). Each command runs in a fresh interpreter that lists
the heavy libraries it imported.
"""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer
from pydantic import SecretStr

from core.contract import CREDIT_HISTORY
from core.events import parse_event, topic_name
from core.ports import free_port
from core.settings import Settings, settings_env
from credit_pipeline.demo_setup import answers
from tests.scoring_api.conftest import bearer, make_key

pytestmark = pytest.mark.integration


@pytest.fixture
def api(trained_stack: Any, tmp_path: Path, start_python: Callable[..., Any]) -> Iterator[Settings]:
    """`credit-pipeline serve` in its own process, ready, with topics of its own."""
    tag = uuid.uuid4().hex[:10]
    settings: Settings = trained_stack.settings.model_copy(
        update={
            "topic_prefix": f"light{tag}-",
            "api_port": free_port("127.0.0.1"),
            "model_dir": trained_stack.model_dir,
            "api_key": SecretStr(make_key(trained_stack.settings, ("score", "features:read"))),
        }
    )
    server = start_python(settings, tmp_path / "api.log", "-m", "credit_pipeline.cli", "serve")

    try:
        ready = settings.api_url + "/readyz"
        server.wait_for(lambda: answers(ready), 120, "the API to be ready", interval=0.25)
        yield settings
    finally:
        server.child.stop(30)


Run = Callable[..., Any]


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_")}
    return {**env, **settings_env(settings)}


def test_score_asks_the_api_without_importing_feast(
    api: Settings, trained_stack: Any, cli_listing_heavy: Run
) -> None:
    application = trained_stack.latest_loan_application()
    argv = [f"--{k.replace('_', '-')}={v}" for k, v in application.items() if v is not None]
    done, heavy = cli_listing_heavy(_env(api), "score", *argv)
    assert done.stdout.split()[0] in ("APPROVED", "REJECTED"), done.stderr
    assert trained_stack.training.metadata.version in done.stdout
    assert heavy == []


def test_produce_update_reads_the_current_values_from_the_api(
    api: Settings, trained_stack: Any, cli_listing_heavy: Run
) -> None:
    person = trained_stack.latest_loan_application()["dob_ssn"]
    request = urllib.request.Request(
        api.api_url + "/live/entities",
        data=json.dumps({"entity": "dob_ssn", "key": person}).encode(),
        headers={"Content-Type": "application/json", **bearer(api.api_key.get_secret_value())},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        online = json.load(answer)["views"][CREDIT_HISTORY.name]["values"]
    assert any(v is not None for v in online.values())

    argv = ["produce", "update", "--dob-ssn", person, "--missed-payments-6m", "0"]
    done, heavy = cli_listing_heavy(_env(api), *argv)
    assert done.returncode == 0, done.stderr
    assert heavy == []
    assert person not in done.stdout + done.stderr

    consumer = Consumer(
        {
            "bootstrap.servers": api.kafka_bootstrap_servers,
            "group.id": f"light-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic_name(CREDIT_HISTORY, api.topic_prefix)])
    try:
        message = None
        for _ in range(60):
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.error() is None, "no event arrived"
        event = parse_event(CREDIT_HISTORY, message.value())
    finally:
        consumer.close()
    assert event.row == {"dob_ssn": person, **online, "missed_payments_6m": 0}


def test_produce_stream_reads_its_entities_without_pandas(
    api: Settings, cli_listing_heavy: Run
) -> None:
    # The entities come from the offline store with plain SQL; no history frame is built.
    done, heavy = cli_listing_heavy(_env(api), "produce", "stream", "--rate", "100", "--count", "5")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("stream: 5 sent, 5 delivered"), done.stdout
    assert heavy == []
