"""The bounded fuzz run of ``make test``: schemathesis generates requests for every operation
in ``/openapi.json`` (seeded, so a failure reproduces) and sends them, with a county admin's
token, to a real server on a demo database of its own. Any 5xx, or any response that does not
match its declared schema, fails the build.

``FUZZ_EXAMPLES`` sets the cases per operation (default 10: about 330 in all, under three
minutes); ``make reliability`` runs the same test with thousands.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests import identities
from tests.servers import serving

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
# Logging out or refreshing would end the run's own session; their own tests cover them.
EXCLUDED = r"^/api/v1/auth/(logout|refresh|session)$"


@pytest.fixture(scope="module")
def fuzz_server(demo_copy) -> Iterator[dict[str, Any]]:
    with demo_copy() as url, serving(url) as base:
        headers = identities.bearer(url)
        schema = httpx.get(f"{base}/openapi.json", headers=headers, timeout=30).json()
        yield {"base": base, "headers": headers, "schema": schema}


def test_no_input_breaks_the_api(fuzz_server: dict[str, Any]) -> None:
    """Every operation, ``EXAMPLES`` generated cases each; all failures are listed together."""
    api = schemathesis.openapi.from_dict(fuzz_server["schema"]).exclude(path_regex=EXCLUDED)
    failures: list[str] = []
    operations, sent = 0, [0]
    for result in api.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,  # the same cases on every run: a failure is a regression
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def send(case: Any) -> None:
            response = case.call(
                base_url=fuzz_server["base"], headers=fuzz_server["headers"], timeout=30
            )
            sent[0] += 1
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            send()
        except Exception as error:  # one operation's failure must not hide the others'
            failures.append(f"{operation.label}: {error}")
    assert operations >= 30  # the schema really was read
    assert not failures, "\n\n".join(failures)
    assert sent[0] >= operations * min(EXAMPLES, 3)  # and cases really were sent
    sys.stdout.write(f"fuzz: {sent[0]} cases over {operations} operations, 0 failures\n")
