"""The answer writer: one LiteLLM call per answer, with fallbacks, streaming, usage and cost."""

import asyncio
import functools
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

# Never fetch the price map at import: the packaged copy is enough and the network may be closed.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import jsonschema
import litellm

from services.generator.choice import ModelChoice
from services.generator.config import GeneratorSettings
from services.generator.leaks import LeakGuard
from services.generator.prompts import (
    BUILT_IN,
    COMPLETION_STOP,
    INSTRUCTION,
    Example,
    Passage,
    Template,
    chat_messages,
    completion_prompt,
    extraction_messages,
    extraction_prompt,
)
from services.generator.tokens import TokenCounter
from services.generator.tracing import model_call_tracing
from services.runtime.errors import INVALID_OUTPUT, InvalidArgument, Unavailable

log = logging.getLogger(__name__)
litellm.suppress_debug_info = True


@dataclass
class Answer:
    text: str = ""
    model: str = ""
    finish_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    first_text_ms: float = 0.0  # streams: from the model call to its first piece of text


@dataclass
class Delta:
    """A piece of a streamed answer; `final` is set on the last one only."""

    text: str = ""
    final: Answer | None = field(default=None)


@dataclass
class Extraction:
    """A JSON answer that matched the requested schema."""

    data: dict
    model: str = ""
    constrained: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


def parse_schema(text: str) -> dict:
    """The request's JSON Schema as a dict; InvalidArgument when it is not JSON or not a valid schema."""
    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"json_schema is not JSON: {exc}") from exc
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise InvalidArgument('json_schema must describe an object ({"type": "object", ...})')
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidArgument(f"json_schema is not a valid JSON Schema: {exc.message}") from exc
    return schema


@functools.lru_cache(maxsize=64)
def _grammar(schema_text: str) -> str | None:
    """llama.cpp's GBNF for a JSON Schema, made by llama-cpp-python's converter; None where it is not installed."""
    try:
        from llama_cpp.llama_grammar import json_schema_to_gbnf
    except ImportError:
        return None
    return json_schema_to_gbnf(schema_text)


def _first_object(text: str) -> dict:
    """The first JSON object in a model's output (models wrap JSON in prose or code fences)."""
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object in the output")
    value, _ = json.JSONDecoder().raw_decode(text[start:])
    if not isinstance(value, dict):
        raise ValueError("the output is not a JSON object")
    return value


def _cost(response: object) -> float:
    try:
        return float(litellm.completion_cost(completion_response=response) or 0.0)
    except Exception:
        return 0.0


class AnswerWriter:
    """Writes grounded answers with whichever LiteLLM model is configured."""

    def __init__(self, settings: GeneratorSettings) -> None:
        self._guard = LeakGuard(INSTRUCTION)
        self._settings = settings
        self._tracing = model_call_tracing(settings)
        self._tokens = TokenCounter(settings)
        self.choice = ModelChoice(settings)

    @property
    def economy_model(self) -> str:
        return self._settings.economy_model

    def _guard_for(self, template: Template) -> LeakGuard:
        """The leak guard of the instruction the answer is written under."""
        return self._guard if template is BUILT_IN else LeakGuard(template.instruction)

    async def count_tokens(self, texts: list[str]) -> tuple[list[int], str]:
        """Token counts with the configured model's tokenizer (services/generator/tokens.py)."""
        return await self._tokens.count(texts)

    def _uses_completion(self, model: str) -> bool:
        style = self._settings.prompt_style
        return style == "completion" or (style == "auto" and model.startswith("text-completion"))

    def _call_args(
        self,
        model: str,
        question: str,
        passages: list[Passage],
        max_tokens: int,
        temperature: float | None,
        template: Template = BUILT_IN,
    ) -> dict:
        s = self._settings
        args: dict = {
            "model": model,
            **self.choice.sampling(
                model, max_tokens or s.max_tokens, s.temperature if temperature is None else temperature
            ),
            "timeout": s.timeout_seconds,
            "num_retries": s.num_retries,
            **self._tracing,
        }
        if s.api_base and model == s.model:
            args.update(api_base=s.api_base, api_key=s.api_key)
        if s.mock_response is not None:
            args["mock_response"] = s.mock_response
        if self._uses_completion(model):
            args.update(prompt=completion_prompt(question, passages, template.instruction), stop=COMPLETION_STOP)
        else:
            args["messages"] = chat_messages(question, passages, template.instruction)
        return args

    def _extract_args(
        self,
        model: str,
        instruction: str,
        text: str,
        passages: list[Passage],
        schema: dict,
        examples: list[Example],
        max_tokens: int,
    ) -> tuple[dict, bool]:
        """LiteLLM arguments for a JSON answer, and whether a grammar holds the model to the schema."""
        s = self._settings
        args: dict = {
            "model": model,
            **self.choice.sampling(model, max_tokens or s.extract_max_tokens, 0.0),
            "timeout": s.timeout_seconds,
            "num_retries": s.num_retries,
            **self._tracing,
        }
        constrained = False
        if s.api_base and model == s.model:
            args.update(api_base=s.api_base, api_key=s.api_key)
        if s.mock_response is not None:
            args["mock_response"] = s.mock_response
        if self._uses_completion(model):
            args.update(prompt=extraction_prompt(instruction, text, passages, examples), stop=["\n\n", "\nInput:"])
            grammar = _grammar(json.dumps(schema, sort_keys=True)) if s.json_grammar and "api_base" in args else None
            if grammar and s.mock_response is None:
                args["extra_body"] = {"grammar": grammar}
                constrained = True
        else:
            args["messages"] = extraction_messages(instruction, text, passages, examples)
            # Providers with structured outputs hold the model to the schema; LiteLLM drops it where unsupported.
            args["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": False},
            }
            args["drop_params"] = True
        return args, constrained

    async def extract(
        self,
        instruction: str,
        text: str,
        passages: list[Passage],
        schema: dict,
        examples: list[Example],
        max_tokens: int = 0,
        role: str = "",
    ) -> Extraction:
        """A JSON object matching `schema`, from the first model whose output parses and validates (the role's own
        model first, when one is configured)."""
        validator = jsonschema.Draft202012Validator(schema)
        errors: list[str] = []
        unreachable = False
        for model in self.choice.order(False, role):
            args, constrained = self._extract_args(model, instruction, text, passages, schema, examples, max_tokens)
            try:
                if "prompt" in args:
                    response = await litellm.atext_completion(**args)
                    output = response.choices[0].text or ""
                else:
                    response = await litellm.acompletion(**args)
                    output = response.choices[0].message.content or ""
            except Exception as exc:
                log.warning("model %s failed: %s", model, exc)
                errors.append(f"{model}: {type(exc).__name__}")
                unreachable = True
                continue
            try:
                data = _first_object(output)
                validator.validate(data)
            except (ValueError, jsonschema.ValidationError) as exc:
                reason = exc.message if isinstance(exc, jsonschema.ValidationError) else str(exc)
                log.warning("model %s gave no valid JSON (%s): %.200r", model, reason, output)
                errors.append(f"{model}: output does not match the schema ({reason})")
                continue
            usage = getattr(response, "usage", None)
            return Extraction(
                data=data,
                model=model,
                constrained=constrained,
                prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                cost_usd=_cost(response),
            )
        # Every model answered, but off the schema: the service is well (its breaker and retries leave this alone).
        raise Unavailable(
            "no model produced a valid answer: " + "; ".join(errors), "" if unreachable else INVALID_OUTPUT
        )

    async def warm_up(self) -> None:
        # The model lives behind an API (its readiness is the caller's concern); only its vocabulary may load here.
        await asyncio.to_thread(self._tokens.warm_up)

    async def close(self) -> None:
        # LiteLLM caches HTTP sessions per provider; close them with the server.
        from litellm.llms.custom_httpx.async_client_cleanup import close_litellm_async_clients

        await close_litellm_async_clients()
        await self._tokens.close()

    async def answer(
        self,
        question: str,
        passages: list[Passage],
        max_tokens: int = 0,
        temperature: float | None = None,
        economy: bool = False,
        template: Template = BUILT_IN,
        model_asked: str = "",
    ) -> Answer:
        errors: list[str] = []
        guard = self._guard_for(template)
        for model in self.choice.order(economy, "answer", model_asked):
            args = self._call_args(model, question, passages, max_tokens, temperature, template)
            try:
                if "prompt" in args:
                    response = await litellm.atext_completion(**args)
                    text = response.choices[0].text or ""
                else:
                    response = await litellm.acompletion(**args)
                    text = response.choices[0].message.content or ""
            except Exception as exc:
                log.warning("model %s failed: %s", model, exc)
                errors.append(f"{model}: {type(exc).__name__}")
                continue
            usage = getattr(response, "usage", None)
            return Answer(
                text=guard.check(text.strip()),
                model=model,
                finish_reason=str(response.choices[0].finish_reason or ""),
                prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                cost_usd=_cost(response),
            )
        raise Unavailable("no model could answer: " + "; ".join(errors))

    async def stream(
        self,
        question: str,
        passages: list[Passage],
        max_tokens: int = 0,
        temperature: float | None = None,
        economy: bool = False,
        template: Template = BUILT_IN,
        model_asked: str = "",
    ) -> AsyncIterator[Delta]:
        errors: list[str] = []
        guard = self._guard_for(template)
        for model in self.choice.order(economy, "answer", model_asked):
            args = self._call_args(model, question, passages, max_tokens, temperature, template)
            args["stream"] = True
            pieces: list[str] = []
            released = 0
            leaked = False
            final = Answer(model=model)
            asked = time.perf_counter()
            try:
                if "prompt" in args:
                    chunks = await litellm.atext_completion(**args)
                else:
                    args["stream_options"] = {"include_usage": True}
                    chunks = await litellm.acompletion(**args)
                async for chunk in chunks:
                    usage = getattr(chunk, "usage", None)
                    if usage:
                        final.prompt_tokens = int(usage.prompt_tokens or 0)
                        final.completion_tokens = int(usage.completion_tokens or 0)
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    delta = getattr(choice, "text", None)
                    if delta is None and getattr(choice, "delta", None) is not None:
                        delta = choice.delta.content
                    if choice.finish_reason:
                        final.finish_reason = str(choice.finish_reason)
                    if delta and not leaked:
                        # Strip leading whitespace of the answer once, as the unary path does.
                        if not pieces:
                            delta = delta.lstrip()
                        if delta:
                            if not pieces:
                                final.first_text_ms = round((time.perf_counter() - asked) * 1000, 2)
                            pieces.append(delta)
                            text = "".join(pieces)
                            if guard.leaked(text):
                                # Nothing of the leak went out: the tail that would hold it was kept back.
                                leaked = True
                                continue
                            # Keep back only a tail that may still grow into a canary or a run of the instructions.
                            safe = len(text) - guard.holdback(text)
                            if safe > released:
                                yield Delta(text=text[released:safe])
                                released = safe
            except Exception as exc:
                if pieces:
                    # Tokens already reached the caller: a fallback would contradict them.
                    raise Unavailable(f"model {model} failed mid-stream: {type(exc).__name__}") from exc
                log.warning("model %s failed: %s", model, exc)
                errors.append(f"{model}: {type(exc).__name__}")
                continue
            whole = "".join(pieces)
            final.text = guard.check(whole.strip())
            if final.text == whole.strip() and len(whole) > released:
                yield Delta(text=whole[released:])
            if not final.prompt_tokens or not final.completion_tokens:
                # A completion-style stream reports no usage: count with the model's own tokenizer.
                prompt = args.get("prompt") or "\n".join(m["content"] for m in args.get("messages", []))
                counts, _ = await self.count_tokens([prompt, whole])
                final.prompt_tokens = final.prompt_tokens or counts[0]
                final.completion_tokens = final.completion_tokens or counts[1]
            yield Delta(final=final)
            return
        raise Unavailable("no model could answer: " + "; ".join(errors))
