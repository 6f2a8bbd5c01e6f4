"""The embedding model on each runtime, in process (no gRPC), measured in one run against PyTorch
(sentence-transformers) as the baseline: one short query (median of 200), batched texts per second (median of 3
rounds over what ingest embeds for the first SciFact abstracts: chunks with their titles and their sentences, mixed
lengths as ingest sees them; 256 uniform passages of about 60 tokens when SciFact is not there), and how close each
runtime's vectors are to PyTorch's (the lowest cosine). Threads: RAGMESH_EMBEDDER_TORCH_THREADS (1 by default, as
the service runs).

    python -m bench.embedder_onnx
Results: printed, and written to bench/results/embedder-onnx-<UTC time>.json.
"""

import asyncio
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.figures import save
from eval import scifact
from services.embedder.config import EmbedderSettings
from services.embedder.model import LocalEmbedder

console = Console()
RUNTIMES = ["torch", "onnx", "onnx-int8"]
QUERY = "When does the ferry leave the north quay?"
PASSAGES = [
    f"Passage {i}: the Tessel harbour master logs {i} arrivals, the pilot boat schedule for berth {i % 12}, and the "
    "tide tables that the ferry crews read before each crossing of the channel."
    for i in range(256)
]


async def _median(call, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def batch_texts() -> tuple[str, list[str]]:
    """What the batch figure embeds, and its name."""
    if not scifact.available():
        return "uniform passages", PASSAGES
    from bench.scifact_ingest import texts_ingest_embeds

    return "SciFact as ingest embeds it", texts_ingest_embeds(scifact.corpus()[:40])[:384]


async def measure(runtime: str, onnx_dir: Path, texts: list[str] | None = None) -> tuple[dict, object]:
    texts = texts or batch_texts()[1]
    embedder = LocalEmbedder(EmbedderSettings(runtime=runtime, onnx_dir=onnx_dir))
    await embedder.warm_up()
    query = await _median(lambda: embedder.embed([QUERY], is_query=True), 200)
    batch = await _median(lambda: embedder.embed(texts, is_query=False), 3)
    vectors = await embedder.embed(texts, is_query=False)
    await embedder.close()
    return {"query_ms_p50": round(query * 1000, 2), "batch_texts_per_s": round(len(texts) / batch, 1)}, vectors


async def main() -> dict:
    figures: dict[str, dict] = {}
    name, texts = batch_texts()
    console.print(f"batches: {len(texts)} texts, {name}")
    baseline = None
    for runtime in RUNTIMES:
        figures[runtime], vectors = await measure(runtime, EmbedderSettings().onnx_dir, texts)
        baseline = vectors if baseline is None else baseline
        figures[runtime]["lowest_cosine_to_torch"] = round(float((vectors * baseline).sum(axis=1).min()), 4)
        figures[runtime]["mean_cosine_to_torch"] = round(float((vectors * baseline).sum(axis=1).mean()), 4)
    base = figures["torch"]
    table = Table("runtime", "one query p50 (ms)", "x torch", "batched texts/s", "x torch", "lowest cosine to torch")
    for runtime, f in figures.items():
        f["query_speedup"] = round(base["query_ms_p50"] / f["query_ms_p50"], 2)
        f["batch_speedup"] = round(f["batch_texts_per_s"] / base["batch_texts_per_s"], 2)
        table.add_row(
            runtime,
            str(f["query_ms_p50"]),
            f"{f['query_speedup']}x",
            str(f["batch_texts_per_s"]),
            f"{f['batch_speedup']}x",
            str(f["lowest_cosine_to_torch"]),
        )
    console.print(table)
    console.print(f"written to {save('embedder-onnx', figures)}")
    return figures


if __name__ == "__main__":
    asyncio.run(main())
