"""Token counts with the configured model's own tokenizer, cheapest source first:

1. `tokenizer_gguf`: the model's vocabulary loaded in this process with llama.cpp (`vocab_only`: no weights), the
   tokens the model server would count, at microseconds a sentence and with no HTTP call. `ragmesh up` points it at
   the GGUF the local server runs. Counts are kept in a bounded LRU: the same passages come back for many questions.
2. the model server's `/extras/tokenize/count` (llama.cpp), one pooled keep-alive client, calls in parallel;
3. LiteLLM's tokenizer for the model (the model's own for some families, OpenAI's cl100k for the rest).

Measured on the reference machine (python -m bench.run, 1,000 short documents): counting a retrieval's ~20
sentences took one HTTP request each to the model server, most of a retrieval-only answer's time.
"""

import asyncio
import functools
import logging
import time
from pathlib import Path

import httpx
import litellm

from services.generator.config import GeneratorSettings

log = logging.getLogger(__name__)
_CACHED_TEXTS = 65_536
# Parallel requests to the model server at most, whatever the batch.
_SERVER_CALLS = 16


class TokenCounter:
    """Counts tokens as the configured model does."""

    def __init__(self, settings: GeneratorSettings) -> None:
        self._settings = settings
        self._vocab = None
        self._model = None
        self._client: httpx.AsyncClient | None = None
        self._server_retry_at = 0.0

    def warm_up(self) -> None:
        """Load the model's vocabulary when one is configured (a few hundred ms for Gemma's 262k tokens)."""
        path = self._settings.tokenizer_gguf
        if path is None:
            return
        if not Path(path).exists():
            raise FileNotFoundError(f"tokenizer_gguf {path} does not exist")
        try:
            import llama_cpp
        except ImportError as exc:
            # Images without the local-llm extra leave tokenizer_gguf unset (the chart does).
            raise RuntimeError("tokenizer_gguf needs llama-cpp-python (ragmesh's local-llm extra)") from exc
        # Kept: the vocabulary below lives as long as this object does.
        self._model = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
        vocab = llama_cpp.llama_model_get_vocab(self._model.model)

        def count(text: str) -> int:
            # llama.cpp's own call: Llama.tokenize wraps it at twice its cost (~160 against ~80 us a sentence here).
            # The model server counts with the BOS token and special tokens parsed (llama_cpp.server's
            # /extras/tokenize/count); so do we, so that both sources give the same figure.
            data = text.encode("utf-8")
            room = len(data) + 2  # a token a byte at most, and BOS
            tokens = (llama_cpp.llama_token * room)()
            n = llama_cpp.llama_tokenize(vocab, data, len(data), tokens, room, True, True)
            if n < 0:  # more room needed than a token a byte: -n is how much
                tokens = (llama_cpp.llama_token * -n)()
                n = llama_cpp.llama_tokenize(vocab, data, len(data), tokens, -n, True, True)
            return n

        self._vocab = functools.lru_cache(maxsize=_CACHED_TEXTS)(count)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def count(self, texts: list[str]) -> tuple[list[int], str]:
        """The token count of each text, and which tokenizer counted."""
        s = self._settings
        if self._vocab is not None:
            return [self._vocab(text) for text in texts], f"{s.model} (its vocabulary, in process)"
        if s.api_base and s.mock_response is None and time.monotonic() >= self._server_retry_at:
            try:
                return await self._server_counts(texts), f"{s.model} (model server)"
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                log.info("the model server cannot count tokens (%s); using LiteLLM's tokenizer", exc)
                self._server_retry_at = time.monotonic() + 60
        counts = [litellm.token_counter(model=s.model, text=text) for text in texts]
        try:
            kind = litellm.utils._select_tokenizer(s.model).get("type", "")
        except Exception:
            kind = ""
        return counts, f"{s.model} ({'its tokenizer' if kind == 'huggingface_tokenizer' else 'approximate: cl100k'})"

    async def _server_counts(self, texts: list[str]) -> list[int]:
        if self._client is None:
            root = self._settings.api_base.rstrip("/").removesuffix("/v1")
            self._client = httpx.AsyncClient(base_url=root, timeout=5)
        gate = asyncio.Semaphore(_SERVER_CALLS)

        async def one(text: str) -> int:
            async with gate:
                reply = await self._client.post("/extras/tokenize/count", json={"input": text})
            reply.raise_for_status()
            return int(reply.json()["count"])

        return list(await asyncio.gather(*(one(text) for text in texts)))
