"""A short property-based run of the gateway's OpenAPI description (schemathesis): every
operation, a few generated requests each, and none answers with a server error."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from .conftest import gateway

#: Generated requests per operation: a few seconds in all on tiny models.
MAX_EXAMPLES = 12


def test_no_server_error_on_generated_requests(tmp_path: Path) -> None:
    with gateway(tmp_path) as gw:
        schema = schemathesis.openapi.from_url(f"{gw.url}/openapi.json")
        checked: list[str] = []
        for result in schema.get_all_operations():
            op = result.ok()
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
                response = case.call(base_url=gw.url, timeout=20)
                answers.append(response.status_code)
                assert response.status_code < 500, (
                    f"{case.method} {case.formatted_path} body={case.body!r}: "
                    f"{response.status_code} {response.text[:300]}"
                )

            call()
            assert answers, op.label
            checked.append(op.label)
        assert gw.proc.poll() is None, "the gateway died"
    assert any("/v1/infer" in label for label in checked)
