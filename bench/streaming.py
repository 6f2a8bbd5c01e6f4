"""Streaming through the gateway against the raw llama.cpp server (P5): the same question, the cited passages in
the completion prompt, the same length and stop rules. Tokens a second are counted from the first token to the last.

The first-token overhead is measured inside each streamed request: the time the caller waits for the first token
minus the model's own share of it (from the generator's model call to the model's first text, which the generator
reports as `model_first_text`). It holds retrieval, compression, the two gRPC hops, the generator's preparation and
the HTTP stream: everything the suite adds before the model starts writing. The older figure, the gateway's time
to the first token minus raw llama.cpp's on a prompt rebuilt by the bench, is reported beside it, but it compares
two prompts: the rebuilt one holds the cited passages whole and none of the generator's instructions, while the
gateway's holds the compressed passages under the instructions (about 50 tokens more in a typical run here), and
the prompt's length decides the prefill's time. Both calls start with llama.cpp's prompt cache holding
something else."""

import json
import statistics
import time

import httpx

from bench.figures import percentile
from bench.latency import progress
from services.generator.config import GeneratorSettings
from services.generator.prompts import COMPLETION_STOP, Passage, completion_prompt

MAX_TOKENS = 64


async def _gateway(client: httpx.AsyncClient, question: str) -> tuple[float, float, int, dict]:
    """(seconds to the first token, seconds from first to last token, completion tokens, the final response)."""
    started = time.perf_counter()
    first = last = 0.0
    event, final = "", {}
    body = {"question": question, "stream": True, "max_tokens": MAX_TOKENS}
    async with client.stream("POST", "/v1/query", json=body) as reply:
        reply.raise_for_status()
        async for line in reply.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "token":
                last = time.perf_counter()
                first = first or last
            elif line.startswith("data:") and event == "done":
                final = json.loads(line.split(":", 1)[1])
    return first - started, last - first, final["usage"]["completion_tokens"], final


async def _raw(llm: httpx.AsyncClient, prompt: str) -> tuple[float, float, int]:
    started = time.perf_counter()
    first = last = 0.0
    tokens = 0
    body = {
        "model": "gemma-3-270m",
        "prompt": prompt,
        "max_tokens": MAX_TOKENS,
        "temperature": GeneratorSettings().temperature,
        "stop": COMPLETION_STOP,
        "stream": True,
    }
    async with llm.stream("POST", "/v1/completions", json=body) as reply:
        reply.raise_for_status()
        async for line in reply.aiter_lines():
            done = not line.startswith("data:") or line.strip() == "data: [DONE]"
            if not done and json.loads(line[5:])["choices"][0].get("text"):
                tokens += 1
                last = time.perf_counter()
                first = first or last
    return first - started, last - first, tokens


async def evict(llm: httpx.AsyncClient) -> None:
    """A one-token completion of an unrelated prompt: llama.cpp keeps the last prompt's KV cache, and a call right
    after another with the same prompt would skip its prefill; each timed call starts cold instead."""
    body = {"model": "gemma-3-270m", "prompt": "Unrelated: the colour of the sea is", "max_tokens": 1}
    (await llm.post("/v1/completions", json=body)).raise_for_status()


async def measure(client: httpx.AsyncClient, llm_url: str, questions: list[str]) -> dict:
    """P5 over `questions`: each streamed through the gateway, then its prompt straight to llama.cpp."""
    rates_gateway, rates_raw, overheads, against_raw = [], [], [], []
    async with httpx.AsyncClient(base_url=llm_url, timeout=120) as llm:
        with progress() as bar:
            task = bar.add_task("streaming: gateway, then raw llama.cpp", total=len(questions))
            for question in questions:
                await evict(llm)
                ttft, span, tokens, final = await _gateway(client, question)
                passages = [Passage(c["index"], c["title"], c["text"]) for c in final["citations"]]
                await evict(llm)
                raw_ttft, raw_span, raw_tokens = await _raw(llm, completion_prompt(question, passages))
                if tokens > 2 and raw_tokens > 2 and span > 0 and raw_span > 0:
                    # Rates over the tokens after the first (the first token's time is the overhead's business).
                    rates_gateway.append((tokens - 1) / span)
                    rates_raw.append((raw_tokens - 1) / raw_span)
                overheads.append(ttft * 1000 - final["timings_ms"]["model_first_text"])
                against_raw.append((ttft - raw_ttft) * 1000)
                bar.advance(task)
    gateway, raw = statistics.median(rates_gateway), statistics.median(rates_raw)
    return {
        "gateway_tokens_per_s": round(gateway, 1),
        "raw_tokens_per_s": round(raw, 1),
        "ratio": round(gateway / raw, 3),
        "first_token_overhead_p50_ms": round(statistics.median(overheads), 1),
        "first_token_overhead_p95_ms": round(percentile(overheads, 0.95), 1),
        "first_token_vs_raw_prompt_p50_ms": round(statistics.median(against_raw), 1),
        "first_token_vs_raw_prompt_p95_ms": round(percentile(against_raw, 0.95), 1),
        "streams": len(rates_gateway),
    }
