"""Log lines: JSON with the service, the trace and span ids and the caller's fields; personal data and credentials
redacted before anything is written, by scrubadub's detectors and ours."""

import io
import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

from services.runtime.logs import Context, formatter
from services.runtime.redaction import may_hold_personal_data, redact

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJqYW5lIiwidGVuYW50IjoiYWNtZSJ9.Zm9vYmFyYmF6cXV4cXV1eA"
KEY = "rmk_0a1b2c3d_Xq3vY8kZr2pLmN0tBw5uHe7sJd4gFc1aKo9iVy6"


@pytest.mark.parametrize(
    ("line", "kept", "gone"),
    [
        ("mail jane.doe@example.com about it", "{{EMAIL}}", "jane.doe@example.com"),
        ("call +1 415 555 2671 after six", "{{PHONE}}", "555 2671"),
        ("call (415) 555-2671", "{{PHONE}}", "555-2671"),
        ("paid with 4111111111111111 today", "{{CREDIT_CARD}}", "4111111111111111"),
        ("paid with 4111 1111 1111 1111 today", "{{CREDIT_CARD}}", "4111 1111"),
        ("paid with 5500-0000-0000-0004", "{{CREDIT_CARD}}", "5500-0000"),
        (f"refused key {KEY}", "{{API_KEY}}", KEY[12:]),
        ("api_key=hunter2hunter2 from the header", "{{API_KEY}}", "hunter2"),
        ("Authorization: Bearer abc.def-ghi_jkl012345", "{{TOKEN}}", "abc.def"),
        (f"token {JWT} expired", "{{TOKEN}}", JWT[:40]),
    ],
)
def test_personal_data_and_credentials_are_redacted(line, kept, gone):
    cleaned = redact(line)
    assert kept in cleaned and gone not in cleaned


@pytest.mark.parametrize(
    "line",
    [
        "POST /v1/query 200 12.3ms",
        "ingested 12 documents in 2024-05-01 batch 7",
        # Not a valid card number (Luhn), and a document id: neither is personal data.
        "order 4111 1111 1111 1112 shipped",
        "document 3f2a9c0e1b7d4e65 indexed in 1234 ms",
    ],
)
def test_ordinary_lines_are_left_alone(line):
    assert redact(line) == line


@pytest.mark.parametrize("milliseconds", [123.4, 9876.5])
def test_an_access_line_is_no_candidate_for_the_scrubber_however_slow_the_request(milliseconds):
    line = f"POST /v1/search 200 in {milliseconds:.1f}ms"
    assert not may_hold_personal_data(line) and redact(line) == line
    # The same figures run together look like a phone number, and cost a scrubber's pass.
    assert may_hold_personal_data(line.replace(" in ", " "))


def _logger(service: str) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(Context(service))
    handler.setFormatter(formatter("json"))
    logger = logging.getLogger(f"tests.logs.{service}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, out


def test_a_line_is_json_with_the_trace_and_its_extras_redacted_too():
    logger, out = _logger("gateway")
    tracer = TracerProvider().get_tracer("tests")
    with tracer.start_as_current_span("request") as span:
        logger.info(
            "user %s sent %s", "jane@example.com", JWT, extra={"event": "request", "tenant": "acme", "note": KEY}
        )
    line = json.loads(out.getvalue())
    assert line["service"] == "gateway" and line["level"] == "INFO" and line["event"] == "request"
    assert line["tenant"] == "acme"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")
    assert line["message"] == "user {{EMAIL}} sent {{TOKEN}}" and line["note"] == "{{API_KEY}}"
    assert "time" in line


def test_an_exception_trace_is_redacted():
    logger, out = _logger("ingest")
    try:
        raise ValueError("could not reach jane@example.com")
    except ValueError:
        logger.exception("mail failed")
    line = json.loads(out.getvalue())
    assert "ValueError" in line["exc_info"] and "jane@example.com" not in line["exc_info"]
    assert "trace_id" not in line


def test_trace_ids_are_written_as_they_are_even_when_they_look_like_phone_numbers():
    class Digits(RandomIdGenerator):
        def generate_trace_id(self) -> int:
            return int("12025550123", 16)

        def generate_span_id(self) -> int:
            return int("4155550100", 16)

    logger, out = _logger("gateway")
    with TracerProvider(id_generator=Digits()).get_tracer("tests").start_as_current_span("request"):
        logger.info("call +1 202 555 0123")
    line = json.loads(out.getvalue())
    assert line["trace_id"] == "00000000000000000000012025550123" and line["span_id"] == "0000004155550100"
    assert line["message"] == "call {{PHONE}}"
