"""A short property-based run of the gateway's OpenAPI description (schemathesis): every
operation, a few generated requests each, and none answers with a server error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from .conftest import gateway

#: Generated requests per operation: a few seconds in all on tiny models.
MAX_EXAMPLES = 12


def _exercise(op: Any, url: str) -> list[int]:
    """Send ``MAX_EXAMPLES`` generated requests of operation ``op``; their HTTP statuses."""
    answers: list[int] = []

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy())
    def call(case: schemathesis.Case) -> None:
        response = case.call(base_url=url, timeout=20)
        answers.append(response.status_code)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} body={case.body!r}: "
            f"{response.status_code} {response.text[:300]}"
        )

    call()
    return answers


def test_no_server_error_on_generated_requests(tmp_path: Path) -> None:
    with gateway(tmp_path) as gw:
        schema = schemathesis.openapi.from_url(f"{gw.url}/openapi.json")
        checked = {}
        for result in schema.get_all_operations():
            op = result.ok()
            checked[op.label] = _exercise(op, gw.url)
        assert gw.proc.poll() is None, "the gateway died"
    assert all(checked.values()), checked
    infer = [s for label, s in checked.items() if "/v1/infer" in label]
    # the generated bodies reach at least the validation (422) path of /v1/infer
    assert infer and 422 in infer[0], checked


def test_no_server_error_on_generated_requests_to_the_streams_gateway(tmp_path: Path) -> None:
    """The same run on a streams gateway (live-streams): opening streams and their queries."""
    with gateway(tmp_path, "live-streams", "--scheduler", "closest") as gw:
        schema = schemathesis.openapi.from_url(f"{gw.url}/openapi.json")
        checked = {}
        for result in schema.get_all_operations():
            op = result.ok()
            checked[op.label] = _exercise(op, gw.url)
        assert gw.proc.poll() is None, "the gateway died"
    assert all(checked.values()), checked
    opened = [s for label, s in checked.items() if label.endswith("/v1/streams")]
    assert opened and 422 in opened[0], checked
