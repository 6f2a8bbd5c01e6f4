"""Model calls in the trace: LiteLLM's own OpenTelemetry callback, on the generator's tracer provider.

Each call gets a `litellm_request` span under the generator's span, with the model, token counts and cost; the
prompt and the answer stay out of it (they carry the asker's question and the tenant's documents).
"""

import os

from services.generator.config import GeneratorSettings
from services.runtime.telemetry import provider

# A span of LiteLLM's own per call, rather than its attributes written onto ours after we have closed it.
os.environ.setdefault("USE_OTEL_LITELLM_REQUEST_SPAN", "true")


def model_call_tracing(settings: GeneratorSettings) -> dict[str, object]:
    """Arguments for every LiteLLM call that trace it; none with tracing off."""
    made = provider(settings)
    if made is None:
        return {}
    from litellm.integrations.opentelemetry import OpenTelemetry, OpenTelemetryConfig

    config = OpenTelemetryConfig(skip_set_global=True, capture_message_content="NO_CONTENT")
    return {"callbacks": [OpenTelemetry(config=config, tracer_provider=made)]}
