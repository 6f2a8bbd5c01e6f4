"""P8: SciFact abstracts ingested through the API against the embedder alone on exactly the texts ingest embeds
(each chunk with its title, and each chunk's sentences: services/ingest/chunking.py), in ingest's batches, one
call after another. The ceiling runs first; the embedding cache is emptied before ingest so that neither run
reads the other's vectors."""

import asyncio
import time

import httpx

from bench.latency import progress
from eval import scifact
from ragmesh.embedder.v1 import embedder_pb2
from services.ingest.chunking import chunk_document, embedding_texts
from services.ingest.config import IngestSettings
from services.ingest.extract import extract


def texts_ingest_embeds(abstracts: list[scifact.Abstract]) -> list[str]:
    settings = IngestSettings()
    texts = []
    for abstract in abstracts:
        document = extract(abstract.text.encode(), "text/plain", abstract.title)
        drafts = chunk_document(document, settings.chunk_max_chars)
        texts += embedding_texts(drafts, abstract.title, settings.sentence_vectors)
    return texts


async def ceiling(embedder, texts: list[str]) -> float:
    """Texts a second, the embedder alone."""
    batch = IngestSettings().embed_batch
    started = time.perf_counter()
    with progress() as bar:
        task = bar.add_task("embedder alone on the texts ingest embeds", total=len(texts))
        for begin in range(0, len(texts), batch):
            chunk = texts[begin : begin + batch]
            await embedder.Embed(embedder_pb2.EmbedRequest(texts=chunk, kind=embedder_pb2.INPUT_KIND_DOCUMENT))
            bar.advance(task, len(chunk))
    return len(texts) / (time.perf_counter() - started)


async def ingest(client: httpx.AsyncClient, abstracts: list[scifact.Abstract], concurrency: int = 4) -> float:
    """Seconds to ingest every abstract through POST /v1/documents."""
    gate = asyncio.Semaphore(concurrency)
    with progress() as bar:
        task = bar.add_task(f"ingesting {len(abstracts)} SciFact abstracts", total=len(abstracts))

        async def one(abstract: scifact.Abstract) -> None:
            async with gate:
                reply = await client.post(
                    "/v1/documents",
                    files={"file": (f"{abstract.id}.txt", abstract.text.encode(), "text/plain")},
                    data={"title": abstract.title, "document_id": abstract.id, "source": "scifact"},
                )
                reply.raise_for_status()
                bar.advance(task)

        started = time.perf_counter()
        await asyncio.gather(*(one(a) for a in abstracts))
    return time.perf_counter() - started


async def ingest_and_ceiling(client: httpx.AsyncClient, embedder, cache, count: int) -> dict:
    if not scifact.available():
        return {"skipped": f"SciFact not found in {scifact.data_dir()}"}
    abstracts = [a for a in scifact.corpus() if a.text.strip()][:count]
    texts = texts_ingest_embeds(abstracts)
    best = await ceiling(embedder, texts)
    await cache.flushall()
    seconds = await ingest(client, abstracts)
    rate = len(texts) / seconds
    return {
        "abstracts": len(abstracts),
        "texts": len(texts),
        "seconds": round(seconds, 1),
        "texts_per_s": round(rate, 1),
        "ceiling_texts_per_s": round(best, 1),
        "x_ceiling": round(rate / best, 3),
    }
