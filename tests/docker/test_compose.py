"""docker-compose.yml, checked without Docker: schema, pinned images, health, wiring, settings."""

from __future__ import annotations

import json
import re
import tomllib
from importlib import resources
from typing import Any

import jsonschema
import pytest

from core.settings import DEV_POSTGRES_PASSWORD, Settings, StackMode

# A tag that names a release: at least major.minor, optionally a variant (`-alpine`).
_PINNED_TAG = re.compile(r"^\d+\.\d+(\.\d+)*([-.][A-Za-z0-9.]+)*$")


def _compose_schema() -> dict[str, Any]:
    # The Compose Specification schema as vendored (with its Apache-2.0 license) by
    # check-jsonschema, the dev dependency that ships it.
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(vendor.joinpath("compose-spec.json").read_text())


def _schema_errors(document: dict[str, Any]) -> list[str]:
    schema = _compose_schema()
    # The vendored file names its draft without the trailing `#`, which jsonschema's lookup
    # does not recognise; pick the validator from the draft it names.
    drafts = {"draft-07": jsonschema.Draft7Validator, "2020-12": jsonschema.Draft202012Validator}
    (validator_class,) = [v for d, v in drafts.items() if d in schema["$schema"]]
    validator_class.check_schema(schema)
    errors = validator_class(schema).iter_errors(document)
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors)


def test_the_file_validates_against_the_compose_specification(compose: Any) -> None:
    # As written (variables unexpanded) and as Compose sees it on a machine with no overrides.
    assert _schema_errors(compose.raw) == []
    assert _schema_errors(compose.resolved) == []


def test_third_party_images_are_pinned_to_a_release(compose: Any) -> None:
    for name, service in compose.services.items():
        if name in compose.ours():
            continue
        image = service["image"]
        reference, _, digest = image.partition("@")
        repository, _, tag = reference.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and _PINNED_TAG.match(tag), f"{name}: {image} is not pinned"
        assert not digest or re.fullmatch(r"sha256:[0-9a-f]{64}", digest), image


def test_our_services_use_one_image_tagged_with_the_project_version(
    compose: Any, repo_root: Any
) -> None:
    version = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["version"]
    images = {service["image"] for service in compose.ours().values()}
    assert images == {f"credit-pipeline:{version}"}
    for name, service in compose.ours().items():
        assert service["build"]["context"] == ".", name


def test_every_service_declares_whether_it_is_a_job_or_a_server(compose: Any) -> None:
    # `restart: "no"` marks a job (run to completion); servers restart. Explicit, because the
    # health and dependency checks below classify services by it.
    for name, service in compose.services.items():
        assert service.get("restart") in ("no", "unless-stopped", "always", "on-failure"), name


def test_every_long_running_service_has_a_healthcheck(compose: Any) -> None:
    long_running = [name for name in compose.services if not compose.one_shot(name)]
    assert {"kafka", "valkey", "postgres", "stream-processor", "scoring-api"} <= set(long_running)
    for name in long_running:
        command = compose.healthcheck(name)
        assert command[:1] in (["CMD"], ["CMD-SHELL"]), f"{name} has no healthcheck"


def test_dependencies_wait_for_health_or_completion(compose: Any) -> None:
    for name, service in compose.services.items():
        depends_on = service.get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions (long form)"
        for target, spec in depends_on.items():
            expected = (
                "service_completed_successfully" if compose.one_shot(target) else "service_healthy"
            )
            assert spec.get("condition") == expected, f"{name} -> {target}"
            # A service every `up` starts must not wait on one only a profile enables.
            if not compose.services[name].get("profiles"):
                assert not compose.services[target].get("profiles"), f"{name} -> {target}"


def test_our_services_set_only_variables_the_settings_read(
    service_variable: tuple[str, list[str]],
) -> None:
    variable, services = service_variable
    where = f"{variable} (services {', '.join(services)})"
    if not variable.startswith("CREDIT_"):
        pytest.fail(
            f"{where} is not a CREDIT_* setting: the containers are configured only through "
            "core.settings.Settings"
        )
    field = variable.removeprefix("CREDIT_").lower()
    if field in Settings.model_fields:
        return
    if field in _pending_fields():
        pytest.fail(
            f"{where}: Settings has no field `{field}` yet; it is proposed in "
            "training/pending_settings.py and not yet added to Settings"
        )
    pytest.fail(f"{where}: Settings has no field `{field}` (misspelt?)")


def _pending_fields() -> set[str]:
    """Settings fields proposed but not yet added (a transitional module, maybe gone)."""
    try:
        from training.pending_settings import FIELDS
    except ImportError:
        return set()
    return set(FIELDS)


def test_each_service_environment_builds_valid_settings(
    compose: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose.services
    for name in compose.ours():
        with monkeypatch.context() as env:
            for variable, value in compose.env(name).items():
                env.setenv(variable, str(value))
            settings = Settings()
        assert settings.stack == StackMode.EXTERNAL, name
        # The addresses are compose services, on the ports those services listen on.
        for host in (settings.kafka_host, settings.redis_host, settings.postgres_host):
            assert host in services, f"{name}: {host} is not a compose service"
        assert settings.state_dir.is_absolute(), name


def test_addresses_match_the_listeners(compose: Any) -> None:
    kafka = compose.env("kafka")
    # {"kafka:9092": "PLAINTEXT", ...}: which listener each advertised address belongs to.
    listeners = [entry.split("://", 1) for entry in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")]
    advertised = {address: listener for listener, address in listeners}
    internal = kafka["KAFKA_INTER_BROKER_LISTENER_NAME"]
    for name in compose.ours():
        env = compose.env(name)
        assert advertised[f"{env['CREDIT_KAFKA_HOST']}:{env['CREDIT_KAFKA_PORT']}"] == internal
        assert env["CREDIT_REDIS_PORT"] == "6379", name  # Valkey's default port, not overridden
        assert env["CREDIT_POSTGRES_PORT"] == "5432", name
    assert "--port" not in compose.services["valkey"]["command"]


def test_stores_answer_a_write_only_once_it_survives_a_crash(compose: Any) -> None:
    # Offsets are committed once both stores answered: an answered write must be durable.
    command = compose.services["valkey"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "always"
    postgres = compose.services["postgres"]
    assert "synchronous_commit" not in " ".join(postgres.get("command", []))  # default: on


def test_postgres_credentials_are_the_ones_the_pipeline_uses(compose: Any) -> None:
    raw_postgres = compose.env("postgres", raw=True)
    postgres = compose.env("postgres")
    for name in compose.ours():
        raw = compose.env(name, raw=True)
        env = compose.env(name)
        # The same expression, so an override of CREDIT_POSTGRES_PASSWORD reaches both sides.
        assert raw["CREDIT_POSTGRES_PASSWORD"] == raw_postgres["POSTGRES_PASSWORD"], name
        assert env["CREDIT_POSTGRES_USER"] == postgres["POSTGRES_USER"], name
        assert env["CREDIT_POSTGRES_DB"] == postgres["POSTGRES_DB"], name
    # The default is the known dev-only credential, never a fresh-looking secret.
    assert postgres["POSTGRES_PASSWORD"] == DEV_POSTGRES_PASSWORD


def test_broker_creates_topics_with_the_pipeline_partition_count(compose: Any) -> None:
    raw_kafka = compose.env("kafka", raw=True)
    for name in compose.ours():
        raw = compose.env(name, raw=True)
        assert raw["CREDIT_TOPIC_PARTITIONS"] == raw_kafka["KAFKA_NUM_PARTITIONS"], name


def test_stream_processor_scales_without_collisions(compose: Any) -> None:
    for name, service in compose.services.items():
        assert "container_name" not in service, f"{name}: a fixed name prevents --scale"
    processor = compose.services["stream-processor"]
    assert "ports" not in processor, "published ports collide between replicas"
    port = compose.env("stream-processor")["CREDIT_METRICS_PORT"]
    assert f"127.0.0.1:{port}/metrics" in " ".join(compose.healthcheck("stream-processor"))


def test_scoring_api_is_published_and_checked_on_its_serving_port(compose: Any) -> None:
    api = compose.services["scoring-api"]
    command = api["command"]
    port = command[command.index("--port") + 1]
    assert [p.rsplit(":", 1)[-1] for p in api["ports"]] == [port]
    assert f"127.0.0.1:{port}/healthz" in " ".join(compose.healthcheck("scoring-api"))


def test_train_and_api_share_the_model_volume(compose: Any) -> None:
    mounts = {}
    for name in ("train", "scoring-api"):
        service = compose.services[name]
        model_dir = compose.env(name)["CREDIT_MODEL_DIR"]
        mounts[name] = [v for v in service["volumes"] if v.endswith(f":{model_dir}")]
        assert len(mounts[name]) == 1, f"{name}: no volume on {model_dir}"
    assert mounts["train"] == mounts["scoring-api"]
    volume = mounts["train"][0].split(":", 1)[0]
    assert volume in compose.resolved["volumes"], "a named volume, not a host directory"


def test_producer_runs_only_behind_a_profile(compose: Any) -> None:
    producer = compose.services["producer"]
    assert producer.get("profiles") == ["stream"]
    assert producer["command"][:2] == ["produce", "stream"]
    assert compose.one_shot("producer")


def test_services_run_with_an_init_process(compose: Any) -> None:
    # PID 1 ignores SIGTERM without a handler and never reaps orphans; tini does both.
    for name, service in compose.ours().items():
        assert service.get("init") is True, name


def test_no_key_works_by_default_and_a_configured_one_is_registered_first(compose: Any) -> None:
    job = compose.services["api-key"]
    assert job["command"][:2] == ["keys", "create"] and "--configured" in job["command"]
    assert compose.env("api-key").get("CREDIT_API_KEY", "") == ""  # nothing unless .env says
    assert compose.services["scoring-api"]["depends_on"]["api-key"] == {
        "condition": "service_completed_successfully"
    }
    hosts = compose.env("scoring-api")["CREDIT_API_TRUSTED_HOSTS"].split(",")
    assert "*" not in hosts and "scoring-api" in hosts
