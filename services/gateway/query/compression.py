"""Compression: score each sentence against the question, keep those that bear on it (by similarity, or the
sentences an LLM names), and fit the context to the token budget counted by the generator's own tokenizer."""

import asyncio
import json
import logging
from dataclasses import dataclass

import grpc
import numpy as np
from cachetools import TTLCache

from ragmesh.embedder.v1 import embedder_pb2
from ragmesh.generator.v1 import generator_pb2
from services.gateway.clients import Downstream
from services.gateway.config import GatewaySettings
from services.gateway.learning.prompts import Instructions
from services.gateway.models import QueryRequest
from services.gateway.query.context import (
    EXTRACT_EXAMPLES,
    EXTRACT_INSTRUCTION,
    Passage,
    Sentence,
    fit_budget,
    keep_chosen,
    keep_relevant,
    numbered,
    sentence_schema,
)
from services.gateway.query.timing import timed
from services.gateway.spending import Tab, tokens_at_most, usage_of

log = logging.getLogger(__name__)

_EMBED_BATCH = 256
_COUNT_BATCH = 512


@dataclass
class Compressed:
    """The context after compression, and what it cost in tokens before and after."""

    passages: list[Passage]
    tokens: int
    tokens_before: int
    tokenizer: str
    method: str = ""


class Compressor:
    """Cuts a context to what bears on the question, within its budget."""

    def __init__(
        self, settings: GatewaySettings, downstream: Downstream, instructions: Instructions | None = None
    ) -> None:
        self._settings = settings
        self._downstream = downstream
        self._instructions = instructions or Instructions()
        # Counts of sentences seen lately, by text: the same passages come back for many questions, and each count
        # saved is a share of a round trip to the generator. Bounded in size and in age, so that a generator
        # configured with another tokenizer is heard within `token_count_cache_seconds`.
        self._counted: TTLCache[str, tuple[int, str]] = TTLCache(
            maxsize=settings.token_count_cache_entries, ttl=settings.token_count_cache_seconds
        )

    async def compress(
        self,
        question: str,
        vector: list[float],
        passages: list[Passage],
        request: QueryRequest,
        timings: dict[str, float],
        fallbacks: list[str],
        tab: Tab,
    ) -> Compressed:
        """Score, select and budget. Without `request.compress`, whole passages go from the end until it fits."""
        s = self._settings
        counting = self._count_tokens([x for p in passages for x in p.sentences], timings)
        if request.compress:
            # Both need only the passages: the generator counts while the sentences are scored.
            (tokens, tokenizer), _ = await asyncio.gather(counting, self._score_sentences(vector, passages, timings))
        else:
            tokens, tokenizer = await counting
        before = sum(tokens.values())
        budget = request.context_tokens or s.context_token_budget
        method = ""
        if request.compress:
            threshold = pick(request.compress_min_similarity, s.compress_min_similarity)
            margin = pick(request.compress_passage_margin, s.compress_passage_margin)
            chosen = None
            if (request.compress_method or s.compress_method) == "llm":
                chosen = await self._llm_sentences(question, passages, tokens, timings, fallbacks, tab)
            if chosen is None:
                passages, method = keep_relevant(passages, threshold, None if margin < 0 else margin), "similarity"
            else:
                passages, method = keep_chosen(passages, chosen), "llm"
            passages = fit_budget(passages, tokens, budget)
        else:
            # Without sentence scores, whole passages go from the end (the first always stays).
            while len(passages) > 1 and sum(tokens[id(x)] for p in passages for x in p.sentences) > budget:
                passages.pop()
        spent = sum(tokens[id(x)] for p in passages for x in p.sentences)
        return Compressed(passages, spent, before, tokenizer, method)

    async def _score_sentences(self, vector: list[float], passages: list[Passage], timings: dict[str, float]) -> None:
        """Each sentence's cosine similarity to the question (vectors are L2-normalised): from the vectors stored
        with the chunks, embedding only the sentences indexed without one."""
        sentences = [x for p in passages for x in p.sentences]
        with timed(timings, "compress"):
            missing = [x for x in sentences if x.vector is None]
            for begin in range(0, len(missing), _EMBED_BATCH):
                batch = missing[begin : begin + _EMBED_BATCH]
                embedded = await self._downstream.embedder.Embed(
                    embedder_pb2.EmbedRequest(texts=[x.text for x in batch], kind=embedder_pb2.INPUT_KIND_DOCUMENT),
                    timeout=self._settings.retrieval_timeout_seconds,
                )
                for sentence, values in zip(batch, embedded.vectors, strict=True):
                    sentence.vector = np.asarray(values.values, dtype=np.float32)
            if sentences:
                scores = np.stack([x.vector for x in sentences]) @ np.asarray(vector, dtype=np.float32)
                for sentence, score in zip(sentences, scores.tolist(), strict=True):
                    sentence.similarity = score

    async def count_ahead(self, texts: list[str], timings: dict[str, float]) -> None:
        """Count sentences the context will hold before it is whole (the hits' own, while their sections are
        fetched), so that compression finds them counted; a failure is left for compression to meet."""
        try:
            await self._count_missing(texts, timings, "count_tokens_ahead")
        except grpc.aio.AioRpcError:
            return

    async def _count_missing(self, texts: list[str], timings: dict[str, float], stage: str) -> None:
        """Ask the generator for the counts of the texts not counted lately (none asked when all were)."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._counted))
        if not missing:
            return
        with timed(timings, stage):
            for begin in range(0, len(missing), _COUNT_BATCH):
                batch = missing[begin : begin + _COUNT_BATCH]
                reply = await self._downstream.generator.CountTokens(
                    generator_pb2.CountTokensRequest(texts=batch), timeout=self._settings.retrieval_timeout_seconds
                )
                for text, n in zip(batch, reply.counts, strict=True):
                    self._counted[text] = (n, reply.tokenizer)

    async def _count_tokens(self, sentences: list[Sentence], timings: dict[str, float]) -> tuple[dict[int, int], str]:
        """Token counts by id(sentence), from the generator's tokenizer; a 4-characters-a-token estimate when
        the generator is unreachable (the answer will degrade anyway)."""
        texts = [x.text for x in sentences]
        try:
            await self._count_missing(texts, timings, "count_tokens")
            known = [self._counted.get(t) for t in texts]
        except grpc.aio.AioRpcError as exc:
            log.warning("token counting unavailable (%s); estimating", exc.code().name)
            known = [None] * len(texts)
        if any(k is None for k in known):
            # Unreachable, or entries aged out mid-request: estimate the lot, as the answer will degrade anyway.
            counts, tokenizer = [max(1, len(t) // 4) for t in texts], "estimate: 4 characters a token"
        else:
            counts, tokenizer = [k[0] for k in known], known[0][1] if known else ""
        return {id(x): n for x, n in zip(sentences, counts, strict=True)}, tokenizer

    async def _llm_sentences(
        self,
        question: str,
        passages: list[Passage],
        tokens: dict[int, int],
        timings: dict[str, float],
        fallbacks: list[str],
        tab: Tab,
    ) -> set[int] | None:
        """The optional LLM extractor: the numbers of the sentences the generator says bear on the question, or
        None when it cannot answer (down, too slow, off the schema, no room in the budget), and similarity
        decides instead."""
        texts, order = numbered(passages)
        if not order:
            return None
        max_tokens = min(400, 16 + 4 * len(order))
        # The passages in the generator's own tokens, with a margin for the sentence numbers; then the instruction.
        context = sum(tokens[id(x)] + 4 for p in passages for x in p.sentences)
        prompt = context + tokens_at_most(
            EXTRACT_INSTRUCTION, question, *(t + json.dumps(j) for t, j in EXTRACT_EXAMPLES)
        )
        charge = await tab.reserve_optional("compression", prompt, max_tokens)
        if charge is None:
            fallbacks.append("compress_llm")
            return None
        reply = None
        instruction = await self._instructions.of(tab.caller, "compression", EXTRACT_INSTRUCTION)
        try:
            with timed(timings, "compress_llm", failed_too=True):
                reply = await self._downstream.generator.Extract(
                    generator_pb2.ExtractRequest(
                        role="compression",
                        instruction=instruction,
                        text=f"Question: {question}",
                        passages=[
                            generator_pb2.Passage(index=i, title=p.title, text=text)
                            for i, (p, text) in enumerate(zip(passages, texts, strict=True), start=1)
                        ],
                        json_schema=json.dumps(sentence_schema(len(order))),
                        examples=[
                            generator_pb2.ExtractExample(text=t, json=json.dumps(j)) for t, j in EXTRACT_EXAMPLES
                        ],
                        max_tokens=max_tokens,
                    ),
                    timeout=self._settings.compress_llm_timeout_seconds,
                )
        except grpc.aio.AioRpcError as exc:
            log.warning("LLM compression unavailable (%s); compressing by similarity", exc.code().name)
            fallbacks.append("compress_llm")
            return None
        finally:
            await tab.settle(charge, usage_of(reply.usage) if reply is not None else None, reply.model if reply else "")
        return set(json.loads(reply.json)["sentences"])


def pick(asked: float | None, default: float) -> float:
    """A per-request knob, or the gateway's setting when the request leaves it out."""
    return default if asked is None else asked
