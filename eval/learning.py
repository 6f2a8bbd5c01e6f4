"""The learning loop proven on SciFact through the real suite (issue 16): the corpus goes in through the ingest
service; every train claim is asked through the gateway (POST /v1/search) and its answer labelled through the review
API with the claim's relevance judgements (the passages of judged abstracts among the hits; judged abstracts the
search missed as missing passages); the gateway trains a query-side adapter from those labels (POST
/v1/admin/adapters), the regression gate decides, and the version is served; the test claims are searched before
and after, hybrid and dense, scored with trec_eval. The gateway's records start empty each run (the index stays).

    python -m eval.learning [--data-dir .ragmesh/eval-scifact] [--limit N]
Writes eval/results/learning.json and .md.
"""

import argparse
import asyncio
import time
from pathlib import Path

import httpx
from rich.console import Console

from eval import scifact
from eval.reports import SCIFACT_DATA, publish
from eval.retrieval import KEY, evaluate, ingest, run_config, score
from ragmesh.suite import BackgroundSuite

console = Console()
CONFIGS = {"hybrid": {"mode": "hybrid"}, "dense": {"mode": "dense"}}


async def label_train_claims(client: httpx.AsyncClient, limit: int | None) -> dict:
    judged = scifact.qrels("train")
    claims = scifact.queries()
    counts = {"labelled": 0, "with_a_shown_passage": 0}
    for qid in sorted(judged, key=int)[:limit]:
        reply = (await client.post("/v1/search", json={"query": claims[qid], "top_k": 30})).json()
        relevant = [n for n, hit in enumerate(reply["hits"], start=1) if hit["document_id"] in judged[qid]]
        shown = {reply["hits"][n - 1]["document_id"] for n in relevant}
        missing = [{"document_id": d, "chunk_index": 0} for d in judged[qid] if d not in shown]
        labelled = await client.post(
            f"/v1/admin/reviews/{reply['answer_id']}/label",
            json={"correct": True, "relevant": relevant, "missing": missing},
        )
        labelled.raise_for_status()
        counts["labelled"] += 1
        counts["with_a_shown_passage"] += bool(relevant)
    return counts


async def trained(client: httpx.AsyncClient) -> dict:
    started = await client.post("/v1/admin/adapters")
    started.raise_for_status()
    version = started.json()["version"]
    while True:
        current = (await client.get(f"/v1/admin/adapters/{version}")).json()
        if current["status"] != "training":
            return current
        console.print(f"  adapter v{version}: {current['progress']}", end="\r")
        await asyncio.sleep(2)


async def subsets(client: httpx.AsyncClient) -> dict:
    """Hybrid nDCG@10 on slices of the test claims: the golden subset's claims (the first 60, as `make test` takes
    them, here over the whole corpus), and the claims whose judged abstracts a train claim shares, or none does."""
    qrels, train, queries = scifact.qrels("test"), scifact.qrels("train"), scifact.queries()
    seen = {doc for judged in train.values() for doc in judged}
    ids = sorted(qrels, key=int)
    groups = {
        "golden subset's claims (first 60)": ids[:60],
        "sharing an abstract with train": [q for q in ids if set(qrels[q]) & seen],
        "sharing none": [q for q in ids if not set(qrels[q]) & seen],
    }
    out = {}
    for name, group in groups.items():
        ranked, _ = await run_config(client, f"hybrid, {name}", CONFIGS["hybrid"], {q: queries[q] for q in group})
        out[name] = {"claims": len(group), **score({q: qrels[q] for q in group}, ranked)}
    return out


async def run(data_dir: Path, limit: int | None) -> dict:
    (data_dir / "gateway" / "gateway.db").unlink(missing_ok=True)
    suite = BackgroundSuite(
        data_dir,
        {KEY: "scifact"},
        env={"RAGMESH_GATEWAY_MAX_SEARCH_TOP_K": "300", "RAGMESH_RETRIEVER_MAX_TOP_K": "300"},
    )
    async with suite.serving(console, KEY) as client:
        ingested = await ingest(client, scifact.corpus())
        before = await evaluate("test", CONFIGS, None, client)
        before_subsets = await subsets(client)
        started = time.perf_counter()
        labels = await label_train_claims(client, limit)
        labelling_seconds = time.perf_counter() - started
        started = time.perf_counter()
        version = await trained(client)
        training_seconds = time.perf_counter() - started
        after, after_subsets = before, before_subsets
        if version["status"] == "ready":
            (await client.post(f"/v1/admin/adapters/{version['version']}/serve", json={"share": 1})).raise_for_status()
            await asyncio.sleep(6)  # every replica's memory of served versions has turned over
            after = await evaluate("test", CONFIGS, None, client)
            after_subsets = await subsets(client)
    return {
        "subsets": {name: {"before": before_subsets[name], "after": after_subsets[name]} for name in before_subsets},
        "ingest": ingested,
        "labels": labels,
        "labelling_seconds": labelling_seconds,
        "training_seconds": training_seconds,
        "adapter": version,
        "before": before["configs"],
        "after": after["configs"],
    }


def markdown(report: dict) -> str:
    adapter = report["adapter"]
    lines = [
        "# The learning loop on SciFact, through the real suite",
        "",
        f"{report['labels']['labelled']} train claims asked through the gateway and labelled through the review API "
        f"({report['labels']['with_a_shown_passage']} with a judged passage among their top 30 hits) in "
        f"{report['labelling_seconds']:.0f} s; adapter v{adapter['version']} trained and gated in "
        f"{report['training_seconds']:.0f} s: **{adapter['status']}** (splits {adapter['splits']}).",
        "",
        "| gate set | nDCG@10 served | nDCG@10 candidate |",
        "|---|---|---|",
    ]
    for name, row in adapter["scores"].items():
        lines.append(f"| {name} | {row['served']:.4f} | {row['candidate']:.4f} |")
    lines += [
        "",
        "SciFact test claims (300), through POST /v1/search:",
        "",
        "| search | nDCG@10 before | nDCG@10 after | Recall@100 before | Recall@100 after |",
        "|---|---|---|---|---|",
    ]
    for name in CONFIGS:
        b, a = report["before"][name], report["after"][name]
        lines.append(
            f"| {name} | {b['ndcg@10']:.4f} | {a['ndcg@10']:.4f} | {b['recall@100']:.4f} | {a['recall@100']:.4f} |"
        )
    lines += [
        "",
        "Hybrid, slices of the test claims:",
        "",
        "| slice | claims | nDCG@10 before | nDCG@10 after |",
        "|---|---|---|---|",
    ]
    for name, row in report.get("subsets", {}).items():
        lines.append(
            f"| {name} | {row['before']['claims']} | {row['before']['ndcg@10']:.4f} | {row['after']['ndcg@10']:.4f} |"
        )
    lines += ["", "Reproduce: `python -m eval.learning`.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=SCIFACT_DATA, help="Where the index lives.")
    parser.add_argument("--limit", type=int, default=None, help="Only the first N train claims.")
    args = parser.parse_args()
    if not scifact.available():
        raise SystemExit(f"SciFact is not at {scifact.data_dir()} (set RAGMESH_SCIFACT_DIR)")
    publish("learning", asyncio.run(run(args.data_dir, args.limit)), markdown, console)


if __name__ == "__main__":
    main()
