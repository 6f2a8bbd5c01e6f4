"""Generator settings (env prefix RAGMESH_GENERATOR_)."""

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.runtime.settings import ServiceSettings


class GeneratorSettings(ServiceSettings):
    """Which model answers, and how it is prompted.

    `model` is any LiteLLM model string. The default is the local Gemma 3 270M behind llama.cpp's
    OpenAI-compatible server, reached through LiteLLM's text-completion route. For a hosted model set e.g.
    `RAGMESH_GENERATOR_MODEL=openai/gpt-4o-mini` and its key in the provider's usual variable
    (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...); LiteLLM reads it from the environment.
    """

    model_config = SettingsConfigDict(env_prefix="RAGMESH_GENERATOR_", extra="ignore")
    service_name: ClassVar[str] = "generator"

    model: str = "text-completion-openai/gemma-3-270m"
    # Base URL of an OpenAI-compatible server (llama.cpp, vLLM, Ollama); empty for hosted providers.
    api_base: str = "http://127.0.0.1:8090/v1"
    # llama.cpp's server takes any key; hosted providers read theirs from the environment instead.
    api_key: str = "local"
    # Models to try, in order, when the primary fails.
    fallbacks: list[str] = Field(default_factory=list)
    # A cheaper model for requests that ask for economy (the gateway does once a cost budget is 90% spent); it is
    # tried first for them, then `model` and the fallbacks. Empty: economy only shortens answers.
    economy_model: str = ""
    # "completion": a few-shot completion prompt for base models; "chat": system + user messages.
    # "auto" picks completion for text-completion-* models and chat for the rest.
    prompt_style: Literal["auto", "completion", "chat"] = "auto"
    # A model per role, tried before `model` and its fallbacks for that role's calls: "answer" (Generate),
    # "verify", "self_query", "compression" and "rewrite" (the Extract calls the gateway names), e.g.
    # {"self_query": "openai/gpt-4o-mini", "compression": "openai/gpt-4o-mini"}: a fast cheap model where the job is
    # small. Unset roles use `model`.
    role_models: dict[str, str] = Field(default_factory=dict)
    # Models a request may ask for by name (GenerateRequest.model; an OpenAI-compatible profile's "model"), beside
    # `model`, its fallbacks, the economy model and the role models, which are always allowed.
    allowed_models: list[str] = Field(default_factory=list)
    # Reasoning models take max_completion_tokens and refuse temperature: models LiteLLM knows as such get those
    # parameters by themselves; name others here (exact LiteLLM model strings).
    reasoning_models: list[str] = Field(default_factory=list)
    # Sent to reasoning models only ("low", "medium", "high"); empty: the provider's default.
    reasoning_effort: str = ""
    max_tokens: int = 160
    # Extract on the completion route to api_base: send llama.cpp's `grammar` field (GBNF made from the JSON
    # Schema) so the model can only write valid JSON. Turn off for completion servers without that field.
    json_grammar: bool = True
    # Upper bound on tokens of an Extract answer when the request sets none.
    extract_max_tokens: int = 200
    temperature: float = 0.1
    timeout_seconds: float = 60.0
    num_retries: int = 1
    # A GGUF whose vocabulary counts tokens in process (llama.cpp, vocab only: no weights loaded) instead of one
    # HTTP call a text to the model server; `ragmesh up` sets it to the local model's file. Unset: the model
    # server's tokenizer, else LiteLLM's.
    tokenizer_gguf: Path | None = None
    # LiteLLM's own mock: answer with this text instead of calling a provider (tests, demos without a model).
    mock_response: str | None = None
