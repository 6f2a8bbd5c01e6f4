"""Retrieval quality on SciFact through the real services: the corpus goes in through the ingest service
(POST /v1/documents), every claim is asked through the gateway (POST /v1/search), and the document
rankings are scored with trec_eval's nDCG@10 and Recall@100 (pytrec-eval).

    python -m eval.retrieval [--split test --split train] [--limit N] [--configs hybrid,dense,...]
Writes eval/results/retrieval-<split>.json and .md. The index persists in --data-dir, and re-ingesting
unchanged abstracts is a no-op, so later runs start in seconds.
"""

import argparse
import asyncio
import json
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytrec_eval
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from eval import scifact
from eval.reports import RESULTS, SCIFACT_DATA, publish
from ragmesh.suite import BackgroundSuite

KEY = "eval-key"
console = Console()

# Search settings under test, by name: the body sent to /v1/search besides the query.
CONFIGS: dict[str, dict] = {
    "sparse": {"mode": "sparse"},
    "dense": {"mode": "dense"},
    "hybrid": {"mode": "hybrid"},
    "hybrid+mmr": {"mode": "hybrid", "mmr_lambda": 0.8},
}
CHUNKS_PER_QUERY = 200  # chunks asked for, so that at least 100 distinct documents come back


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    )


async def ingest(client: httpx.AsyncClient, abstracts: list[scifact.Abstract], concurrency: int = 4) -> dict:
    gate = asyncio.Semaphore(concurrency)
    chunks = 0
    with _progress() as bar:
        task = bar.add_task(f"ingesting {len(abstracts)} abstracts", total=len(abstracts))

        async def one(abstract: scifact.Abstract) -> None:
            nonlocal chunks
            async with gate:
                reply = await client.post(
                    "/v1/documents",
                    files={"file": (f"{abstract.id}.txt", abstract.text.encode() or b" ", "text/plain")},
                    data={"title": abstract.title, "document_id": abstract.id, "source": "scifact"},
                )
                if reply.status_code in (200, 201):
                    chunks += reply.json()["chunk_count"]
                bar.advance(task)

        started = time.perf_counter()
        await asyncio.gather(*(one(a) for a in abstracts))
    return {"documents": len(abstracts), "chunks": chunks, "seconds": round(time.perf_counter() - started, 1)}


def documents_ranked(hits: list[dict], depth: int = 100) -> dict[str, float]:
    """Chunk hits to a document ranking: each document at its best chunk's rank."""
    ranking: dict[str, float] = {}
    for hit in hits:
        if hit["document_id"] not in ranking:
            ranking[hit["document_id"]] = float(len(hits) - len(ranking))
        if len(ranking) == depth:
            break
    return ranking


async def run_config(
    client: httpx.AsyncClient, name: str, body: dict, claims: dict[str, str]
) -> tuple[dict, list[float]]:
    run: dict[str, dict[str, float]] = {}
    latencies: list[float] = []
    with _progress() as bar:
        task = bar.add_task(f"{name}", total=len(claims))
        for query_id, claim in claims.items():
            started = time.perf_counter()
            reply = await client.post("/v1/search", json={"query": claim, "top_k": CHUNKS_PER_QUERY, **body})
            latencies.append((time.perf_counter() - started) * 1000)
            reply.raise_for_status()
            run[query_id] = documents_ranked(reply.json()["hits"])
            bar.advance(task)
    return run, latencies


def score(qrels: dict, run: dict) -> dict[str, float]:
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"}).evaluate(run)
    return {
        "ndcg@10": round(statistics.mean(q["ndcg_cut_10"] for q in per_query.values()), 4),
        "recall@100": round(statistics.mean(q["recall_100"] for q in per_query.values()), 4),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)


async def evaluate(split: str, configs: dict[str, dict], limit: int | None, client: httpx.AsyncClient) -> dict:
    qrels = scifact.qrels(split)
    all_queries = scifact.queries()
    claims = {qid: all_queries[qid] for qid in sorted(qrels, key=int)[:limit]}
    report: dict = {"split": split, "queries": len(claims), "configs": {}}
    for name, body in configs.items():
        run, latencies = await run_config(client, name, body, claims)
        report["configs"][name] = {
            **score({q: qrels[q] for q in claims}, run),
            "p50_ms": percentile(latencies, 0.5),
            "p95_ms": percentile(latencies, 0.95),
            "search": body,
        }
    return report


# The grid tuned on train: weight of the dense list against the sparse one, and the RRF constant.
GRID = [{"mode": "hybrid", "dense_weight": w, "rrf_k": k} for w in (0.5, 1.0, 1.5, 2.0, 3.0) for k in (10, 30, 60)]


async def tune(client: httpx.AsyncClient, limit: int | None) -> dict:
    """The grid point with the best nDCG@10 on train claims (test claims are never looked at here)."""
    qrels = scifact.qrels("train")
    all_queries = scifact.queries()
    claims = {qid: all_queries[qid] for qid in sorted(qrels, key=int)[:limit]}
    trials = []
    for body in GRID:
        run, _ = await run_config(client, f"tune w={body['dense_weight']} k={body['rrf_k']}", body, claims)
        trials.append({**score({q: qrels[q] for q in claims}, run), "search": body})
    best = max(trials, key=lambda t: (t["ndcg@10"], t["recall@100"]))
    return {"train_queries": len(claims), "trials": trials, "best": best["search"]}


def markdown(report: dict) -> str:
    lines = [
        f"# SciFact {report['split']} — retrieval ({report['queries']} claims, {report['at']})",
        "",
        f"Corpus: {report['ingest']['documents']} abstracts, {report['ingest']['chunks']} chunks, "
        f"ingested through the ingest service in {report['ingest']['seconds']} s. "
        "BM25 reference (BEIR): 0.665 nDCG@10.",
        "",
        "| configuration | nDCG@10 | Recall@100 | p50 ms | p95 ms |",
        "|---|---|---|---|---|",
    ]
    for name, row in report["configs"].items():
        lines.append(f"| {name} | {row['ndcg@10']:.4f} | {row['recall@100']:.4f} | {row['p50_ms']} | {row['p95_ms']} |")
    return (
        "\n".join(lines)
        + "\n\nReproduce: `make eval` (or `python -m eval.retrieval --split "
        + report["split"]
        + "`).\n"
    )


async def main(args: argparse.Namespace) -> list[dict]:
    if not scifact.available():
        raise SystemExit(f"SciFact is not at {scifact.data_dir()} (set RAGMESH_SCIFACT_DIR)")
    configs = {name: CONFIGS[name] for name in args.configs.split(",")} if args.configs else CONFIGS
    suite = BackgroundSuite(
        args.data_dir,
        {KEY: "scifact"},
        env={"RAGMESH_GATEWAY_MAX_SEARCH_TOP_K": "300", "RAGMESH_RETRIEVER_MAX_TOP_K": "300"},
    )
    reports = []
    async with suite.serving(console, KEY) as client:
        ingested = await ingest(client, scifact.corpus())
        tuning = None
        if args.tune:
            tuning = await tune(client, args.tune_limit)
            configs = {**configs, "hybrid-tuned": tuning["best"]}
            (RESULTS / "tuning-train.json").write_text(json.dumps(tuning, indent=2) + "\n")
        for split in args.split or ["test"]:
            report = await evaluate(split, configs, args.limit, client)
            report["ingest"] = ingested
            report["at"] = datetime.now(UTC).isoformat(timespec="seconds")
            reports.append(report)
    return reports


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=["test", "train"], action="append", help="Repeatable; default test.")
    parser.add_argument("--data-dir", type=Path, default=SCIFACT_DATA, help="Where the index lives.")
    parser.add_argument("--limit", type=int, default=None, help="Only the first N claims.")
    parser.add_argument("--configs", default="", help=f"Comma-separated, from: {', '.join(CONFIGS)}.")
    parser.add_argument("--tune", action="store_true", help="Tune fusion on train first; adds hybrid-tuned.")
    parser.add_argument("--tune-limit", type=int, default=300, help="Train claims used for tuning.")
    arguments = parser.parse_args()
    for result in asyncio.run(main(arguments)):
        publish(f"retrieval-{result['split']}", result, markdown, console)
