"""The API against its own OpenAPI document, with schemathesis (issue 13).

A sidecar of its own (gunicorn, real Redis, the local backend, no development key) serves
/api/v1/openapi.json; schemathesis reads it there and, for every operation, sends
generated requests (valid by the document, then invalid ones) with an API token of the
``admin`` scope, so that every operation is reached past its authentication. Each answer
must be no 5xx (``not_a_server_error``) and be what the document says for its status
(``response_schema_conformance``: a problem+json for every 4xx, the documented body for a
2xx). Bounded: a few examples per operation, a deadline on the whole run.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from devtools import services as devstack
from nextpyter.sidecar.apitokens import ApiTokens
from nextpyter.sidecar.runtime.local import LocalBackend

EXAMPLES = 15  # per operation, valid by the document and not; about 400 requests in all
BUDGET = 50.0  # seconds for the whole run; past it the remaining operations fail


class Sidecar:
    def __init__(self, service: devstack.Service, env: dict[str, str], token: str) -> None:
        self.service, self.env, self.token = service, env, token
        self.started = time.monotonic()

    @property
    def url(self) -> str:
        return f"http://{self.service.address}/api/v1"


@pytest.fixture(scope="module")
def sidecar(
    tmp_path_factory: pytest.TempPathFactory,
    redis_service: devstack.Service,
    keys: tuple[Path, Path],
) -> Iterator[Sidecar]:
    workdir = tmp_path_factory.mktemp("schemathesis")
    data = workdir / "data"
    data.mkdir()
    devstack.make_user(data, "ola")  # one user that exists; generated ones mostly do not
    env = devstack.sidecar_env(workdir, redis_service.address, data, keys[1])
    client = redis_lib.Redis.from_url(redis_service.address, decode_responses=True)
    client.flushdb()
    _, token = ApiTokens(client).create("schemathesis", ["admin"])
    service = devstack.start_sidecar(workdir, env, workers=1, threads=16)
    try:
        yield Sidecar(service, env, token)
    finally:
        backend = LocalBackend(Path(env["NEXTPYTER_RUNTIME_DIR"]))
        for server in backend.list():
            backend.stop(server.slug)
        service.stop()
        client.flushdb()
        client.close()


def test_every_operation_answers_as_documented(sidecar: Sidecar) -> None:
    """Each operation in turn (schemathesis's own pytest plugin does not run on this
    pytest): every failure found is collected, and all are reported at the end."""
    api = schemathesis.openapi.from_url(f"{sidecar.url}/openapi.json")
    headers = {"Authorization": f"Bearer {sidecar.token}"}
    failures: dict[str, str] = {}
    calls: dict[str, int] = {}
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in api.get_all_operations()]
    for operation, mode in [(o, m) for o in operations for m in GenerationMode]:
        name = f"{operation.method.upper()} {operation.path}"
        calls.setdefault(name, 0)

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,  # the same requests on every run: a failure can be replayed
            phases=[Phase.explicit, Phase.generate],  # no shrinking: the budget is short
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: Any) -> None:
            calls[case.operation.method.upper() + " " + case.operation.path] += 1
            response = case.call_and_validate(
                base_url=sidecar.url,
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance],
                timeout=20,
            )
            statuses[response.status_code] += 1

        try:
            check()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing to break (no parameter, no body)
        except Exception as error:  # one operation's failure; go on with the others
            failures[f"{name} ({mode.value})"] = f"{type(error).__name__}: {str(error)[:1500]}"
        assert time.monotonic() - sidecar.started < BUDGET, f"over {BUDGET} s at {name}"
    print(
        f"schemathesis: {len(operations)} operations, {sum(calls.values())} requests, "
        f"answers by status {dict(sorted(statuses.items()))}, {len(failures)} failing"
    )
    assert len(operations) >= 13
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
