"""Logs: one JSON object per line on every service (time, level, service, trace and span ids, tenant, event,
message), personal data and credentials redacted before the line is written (services/runtime/redaction.py), at
the level the service's settings name.

The JSON comes from python-json-logger; the trace ids from the current OpenTelemetry span.
"""

import logging
import sys

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from services.runtime.redaction import redact
from services.runtime.settings import ServiceSettings

# Attributes every record has, which are not the caller's extras.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class Context(logging.Filter):
    """Adds the service's name and the current trace and span ids to every record, and redacts its message and
    its string extras. On the handler, so records of every library's loggers pass through it."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def filter(self, record: logging.LogRecord) -> bool:
        # The message is formatted once here, redacted, and frozen (no args left to format again).
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Both formatters write exc_text when exc_info is gone, so the traceback goes out redacted.
            record.exc_text, record.exc_info = redact(record.exc_text), None
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, redact(value))
        # Set after the extras are redacted: our own ids hold no personal data, and hex ids with seven digits in a
        # row looked like phone numbers to the scrubber (a whole scrub of every access-log line, for nothing).
        record.service = self._service
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


def formatter(log_format: str) -> logging.Formatter:
    """JSON lines, or the same fields as text for a human at a terminal."""
    if log_format == "json":
        return JsonFormatter(
            "{asctime}{levelname}{service}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
    return logging.Formatter("%(asctime)s %(levelname)s %(service)s %(name)s: %(message)s")


def configure_logging(settings: ServiceSettings) -> None:
    """Send every logger's records to stderr as the settings say, at the service's level. Once per process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(Context(settings.service_name))
    handler.setFormatter(formatter(settings.log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # uvicorn's own access log says less than ours (services/gateway/access.py) and is not redacted the same way.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
