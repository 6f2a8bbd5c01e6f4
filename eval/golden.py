"""The golden subset: a fixed slice of SciFact small enough for `make test` (well under two minutes), whose
hybrid nDCG@10 is recorded in golden.json; the test fails when it drops more than 2% below that.

    python -m eval.golden --record    # re-measure and record (after a deliberate quality change)
"""

import argparse
import asyncio
import json
import random
from pathlib import Path

import httpx

from eval import scifact
from eval.retrieval import documents_ranked, score

GOLDEN = Path(__file__).resolve().parent / "golden.json"
QUERIES = 60
DISTRACTORS = 340
TOLERANCE = 0.02


def selection() -> tuple[list[str], list[str]]:
    """The first QUERIES test claims, and their evidence abstracts plus a fixed sample of distractors."""
    qrels = scifact.qrels("test")
    queries = sorted(qrels, key=int)[:QUERIES]
    evidence = sorted({doc for q in queries for doc in qrels[q]}, key=int)
    others = sorted({a.id for a in scifact.corpus()} - set(evidence), key=int)
    return queries, sorted(evidence + random.Random(13).sample(others, DISTRACTORS), key=int)


async def measure(client: httpx.AsyncClient, search: dict | None = None) -> dict[str, float]:
    """Ingest the selection into the client's tenant and score hybrid search on it."""
    queries, documents = selection()
    wanted = set(documents)
    abstracts = [a for a in scifact.corpus() if a.id in wanted]
    gate = asyncio.Semaphore(4)

    async def one(abstract: scifact.Abstract) -> None:
        async with gate:
            reply = await client.post(
                "/v1/documents",
                files={"file": (f"{abstract.id}.txt", abstract.text.encode(), "text/plain")},
                data={"title": abstract.title, "document_id": abstract.id},
            )
            reply.raise_for_status()

    await asyncio.gather(*(one(a) for a in abstracts))
    claims = scifact.queries()
    run = {}
    for query_id in queries:
        reply = await client.post(
            "/v1/search", json={"query": claims[query_id], "top_k": 100, "mode": "hybrid", **(search or {})}
        )
        reply.raise_for_status()
        run[query_id] = documents_ranked(reply.json()["hits"])
    qrels = scifact.qrels("test")
    return score({q: qrels[q] for q in queries}, run)


def recorded() -> dict:
    return json.loads(GOLDEN.read_text())


async def _record() -> None:
    import tempfile

    from ragmesh.suite import BackgroundSuite

    with tempfile.TemporaryDirectory(prefix="ragmesh-golden-") as data_dir:
        from rich.console import Console

        suite = BackgroundSuite(Path(data_dir), {"golden-key": "golden"})
        async with suite.serving(Console(), "golden-key") as client:
            scores = await measure(client)
    queries, documents = selection()
    GOLDEN.write_text(
        json.dumps({"queries": len(queries), "documents": len(documents), "tolerance": TOLERANCE, **scores}, indent=2)
        + "\n"
    )
    print(GOLDEN.read_text())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", action="store_true", help="Measure and write golden.json.")
    if parser.parse_args().record:
        asyncio.run(_record())
