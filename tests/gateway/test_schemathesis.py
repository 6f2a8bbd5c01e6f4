"""Property-based API testing with Schemathesis against the gateway's own OpenAPI schema: every operation gets a
bounded number of generated requests (valid and invalid), sent with a valid key to the real suite. No 5xx, no
response that breaks the schema, and no operation that answers without credentials."""

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.servers import gateway

# Generated requests per operation and mode (each runs the real pipeline with LiteLLM's mock as the model): valid
# requests, and requests that break the schema on purpose (which must be refused with a 4xx).
CASES_PER_OPERATION = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}
KEY = {"X-API-Key": "key-fuzz"}
# Every check that judges the response it is given. Left out: positive_data_acceptance (a request the schema
# allows may still break a rule it cannot state, e.g. a question of control characters only: a 4xx with a reason
# is right), and ignored_auth, which sends its own blocking probe (the next test does that job, asynchronously).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    missing_required_header,
    unsupported_method,
]


def _cases(operation) -> list:
    """Draw the cases first (Hypothesis is synchronous); they are sent afterwards on the test's event loop."""
    drawn: list = []
    for mode, count in CASES_PER_OPERATION.items():

        @settings(
            max_examples=count, database=None, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
        )
        @given(operation.as_strategy(generation_mode=mode))
        def collect(case) -> None:
            drawn.append(case)

        collect()
    return drawn


def _for_httpx(kwargs: dict) -> dict:
    """Schemathesis serialises for `requests`; httpx takes multipart form fields as `data` and only real files
    (with a filename) as `files`."""
    kwargs.pop("verify", None)
    kwargs.pop("cookies", None)
    files = kwargs.pop("files", None)
    if files:
        fields: dict[str, list[str]] = {}
        uploads = []
        for name, (filename, content, *_) in files:
            if not isinstance(content, bytes | str):
                # A file part generated as a number or a boolean (a negative case): over multipart the only way to
                # break a file's type is to send a plain field instead, which is what is sent.
                filename, content = None, str(content)
            if filename is None:
                fields.setdefault(name, []).append(content if isinstance(content, str) else content.decode("latin-1"))
            else:
                uploads.append((name, (filename, content)))
        kwargs["data"] = fields
        kwargs["files"] = uploads
    return kwargs


def _checks_for(operation) -> list:
    """Every check, less negative_data_rejection for a multipart body: there every value travels as text or bytes,
    so a "number where a string is due" or a file that "became a number" is a valid upload once sent (a file whose
    bytes read "-1.19e-07"), and refusing it would be wrong."""
    content = operation.definition.raw.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        return [check for check in CHECKS if check is not negative_data_rejection]
    return CHECKS


def _without_credentials(headers: dict | None) -> dict:
    return {k: v for k, v in (headers or {}).items() if k.lower() not in ("x-api-key", "authorization")}


@pytest.fixture(scope="module")
async def fuzzed(suite):
    async with gateway(suite.gateway_settings(api_keys={"key-fuzz": "fuzz"})) as api:
        schema = schemathesis.openapi.from_dict((await api.get("/openapi.json")).json())
        yield api, schema


async def test_no_operation_fails_or_breaks_its_schema(fuzzed):
    api, schema = fuzzed
    counts: dict[str, int] = {}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in ("/healthz", "/readyz"):
            continue
        for case in _cases(operation):
            kwargs = _for_httpx(case.as_transport_kwargs(base_url=str(api.base_url)))
            # The credential is ours, not generated: generated ones are the other test's business.
            kwargs["headers"] = {**_without_credentials(kwargs.get("headers")), **KEY}
            request = api.build_request(**kwargs)
            request.read()  # multipart bodies stream; the checks read what was sent
            response = await api.send(request)
            counts[operation.label] = counts.get(operation.label, 0) + 1
            try:
                case.validate_response(response, checks=_checks_for(operation), headers=KEY)
            except (Exception, BaseExceptionGroup) as exc:  # every check failure is collected and reported
                failures.append(f"{operation.label}: {response.status_code} {type(exc).__name__}: {exc}"[:600])
    print(f"schemathesis: {sum(counts.values())} cases over {len(counts)} operations: {counts}")
    assert len(counts) >= 15 and min(counts.values()) >= 1
    assert not failures, "\n".join(failures[:10])


async def test_no_operation_answers_without_credentials(fuzzed):
    api, schema = fuzzed
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in ("/healthz", "/readyz"):
            continue
        case = _cases(operation)[0]
        kwargs = _for_httpx(case.as_transport_kwargs(base_url=str(api.base_url)))
        headers = {
            k: v for k, v in kwargs.pop("headers", {}).items() if k.lower() not in ("x-api-key", "authorization")
        }
        response = await api.request(headers=headers, **kwargs)
        assert response.status_code == 401, f"{operation.label} answered {response.status_code} without credentials"
        assert isinstance(response, httpx.Response)
