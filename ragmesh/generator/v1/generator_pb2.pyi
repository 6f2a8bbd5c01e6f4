from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("model", "prompt_version", "fallbacks", "input_usd_per_token", "output_usd_per_token", "economy_model", "allowed_models")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    FALLBACKS_FIELD_NUMBER: _ClassVar[int]
    INPUT_USD_PER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_USD_PER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ECONOMY_MODEL_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_MODELS_FIELD_NUMBER: _ClassVar[int]
    model: str
    prompt_version: str
    fallbacks: _containers.RepeatedScalarFieldContainer[str]
    input_usd_per_token: float
    output_usd_per_token: float
    economy_model: str
    allowed_models: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, model: _Optional[str] = ..., prompt_version: _Optional[str] = ..., fallbacks: _Optional[_Iterable[str]] = ..., input_usd_per_token: _Optional[float] = ..., output_usd_per_token: _Optional[float] = ..., economy_model: _Optional[str] = ..., allowed_models: _Optional[_Iterable[str]] = ...) -> None: ...

class ExtractExample(_message.Message):
    __slots__ = ("text", "json")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    text: str
    json: str
    def __init__(self, text: _Optional[str] = ..., json: _Optional[str] = ...) -> None: ...

class ExtractRequest(_message.Message):
    __slots__ = ("instruction", "text", "passages", "json_schema", "examples", "max_tokens", "role")
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    JSON_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    instruction: str
    text: str
    passages: _containers.RepeatedCompositeFieldContainer[Passage]
    json_schema: str
    examples: _containers.RepeatedCompositeFieldContainer[ExtractExample]
    max_tokens: int
    role: str
    def __init__(self, instruction: _Optional[str] = ..., text: _Optional[str] = ..., passages: _Optional[_Iterable[_Union[Passage, _Mapping]]] = ..., json_schema: _Optional[str] = ..., examples: _Optional[_Iterable[_Union[ExtractExample, _Mapping]]] = ..., max_tokens: _Optional[int] = ..., role: _Optional[str] = ...) -> None: ...

class ExtractResponse(_message.Message):
    __slots__ = ("json", "usage", "model", "constrained")
    JSON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CONSTRAINED_FIELD_NUMBER: _ClassVar[int]
    json: str
    usage: Usage
    model: str
    constrained: bool
    def __init__(self, json: _Optional[str] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., model: _Optional[str] = ..., constrained: _Optional[bool] = ...) -> None: ...

class CountTokensRequest(_message.Message):
    __slots__ = ("texts",)
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, texts: _Optional[_Iterable[str]] = ...) -> None: ...

class CountTokensResponse(_message.Message):
    __slots__ = ("counts", "tokenizer")
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    TOKENIZER_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedScalarFieldContainer[int]
    tokenizer: str
    def __init__(self, counts: _Optional[_Iterable[int]] = ..., tokenizer: _Optional[str] = ...) -> None: ...

class Passage(_message.Message):
    __slots__ = ("index", "title", "text")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    index: int
    title: str
    text: str
    def __init__(self, index: _Optional[int] = ..., title: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("question", "passages", "max_tokens", "temperature", "economy", "instruction", "prompt_version", "model")
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    ECONOMY_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    question: str
    passages: _containers.RepeatedCompositeFieldContainer[Passage]
    max_tokens: int
    temperature: float
    economy: bool
    instruction: str
    prompt_version: str
    model: str
    def __init__(self, question: _Optional[str] = ..., passages: _Optional[_Iterable[_Union[Passage, _Mapping]]] = ..., max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., economy: _Optional[bool] = ..., instruction: _Optional[str] = ..., prompt_version: _Optional[str] = ..., model: _Optional[str] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens", "cost_usd")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("text", "usage", "model", "finish_reason", "prompt_version", "model_first_text_ms")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIRST_TEXT_MS_FIELD_NUMBER: _ClassVar[int]
    text: str
    usage: Usage
    model: str
    finish_reason: str
    prompt_version: str
    model_first_text_ms: float
    def __init__(self, text: _Optional[str] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., model: _Optional[str] = ..., finish_reason: _Optional[str] = ..., prompt_version: _Optional[str] = ..., model_first_text_ms: _Optional[float] = ...) -> None: ...

class GenerateStreamResponse(_message.Message):
    __slots__ = ("delta", "final")
    DELTA_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    delta: str
    final: GenerateResponse
    def __init__(self, delta: _Optional[str] = ..., final: _Optional[_Union[GenerateResponse, _Mapping]] = ...) -> None: ...
