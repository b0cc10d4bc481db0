"""The API against its own OpenAPI document: schemathesis generates valid and invalid requests
for every operation (bounded, fixed seed) and runs all its checks on each answer: no server
error, no undocumented status, bodies and headers as documented, valid data accepted, invalid
data refused. The API runs under uvicorn on a loopback port, with the real stack behind it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from scoring_api.main import create_app
from tests.scoring_api.conftest import bearer, make_key, served_in_thread

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 60


def _checks() -> tuple[Any, Any]:
    """(schemathesis's positive-data check, ours): a well-formed application for a zipcode or
    person with no stored features is refused with 422 `features_unavailable` by design (the
    model cannot decide without them); every other refusal of valid data still fails."""
    import schemathesis
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    @schemathesis.check
    def positive_data_accepted_unless_features_missing(ctx: Any, response: Any, case: Any) -> Any:
        if response.status_code == 422:
            code = response.json().get("error", {}).get("code")
            if code == "features_unavailable":
                return None
        return positive_data_acceptance(ctx, response, case)

    return positive_data_acceptance, positive_data_accepted_unless_features_missing


@pytest.fixture(scope="module")
def served(trained_stack: Any) -> Iterator[tuple[str, Any]]:
    app = create_app(trained_stack.settings, model_dir=trained_stack.model_dir)
    with served_in_thread(app) as url:
        yield url, app


def _fuzz(operation: Any, mode: Any, call: Any) -> tuple[int, list[str]]:
    """(examples run, failures) of one operation in one generation mode."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    failures: list[str] = []
    calls = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,  # the same examples on every run
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        nonlocal calls
        calls += 1
        try:
            call(case)
        except Exception as exc:  # collected; hypothesis shrinks, then raises
            failures.append(f"{operation.label} ({mode.value}): {exc}"[:2000])
            raise

    try:
        run()
    except Unsatisfiable:
        # No invalid request exists for an operation without inputs (GET /healthz).
        if mode is not GenerationMode.NEGATIVE or operation.body or operation.query:
            failures.append(f"{operation.label} ({mode.value}): no example could be made")
    except Exception as exc:  # a check's failure is recorded already; anything else too
        if not failures:
            failures.append(f"{operation.label} ({mode.value}): {exc!r}"[:2000])
    return calls, failures


def test_the_api_keeps_every_promise_of_its_openapi_document(
    served: tuple[str, Any], trained_stack: Any
) -> None:
    import schemathesis
    from schemathesis import GenerationMode

    base_url, app = served
    headers = bearer(make_key(trained_stack.settings))
    schema = schemathesis.openapi.from_dict(app.openapi())
    theirs, ours = _checks()

    def call(case: Any) -> None:
        case.call_and_validate(
            base_url=base_url, headers=headers, excluded_checks=[theirs], additional_checks=[ours]
        )

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6, [op.label for op in operations]
    calls, failures = 0, []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            ran, failed = _fuzz(operation, mode, call)
            calls += ran
            failures += failed
    print(f"\nschemathesis: {calls} requests over {len(operations)} operations")  # noqa: T201
    assert calls >= len(operations) * 10, calls
    assert not failures, "\n\n".join(dict.fromkeys(failures))
