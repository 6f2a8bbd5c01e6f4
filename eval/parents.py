"""Parent-document retrieval on SciFact: what the generator is shown when each hit grows to its parent section
(the whole abstract here) against the hit chunk alone, at the same top_k, through POST /v1/query (retrieval
only, no compression, a budget large enough to hold everything).

Reported per mode: the share of gold evidence sentences (claims_validation.csv) that are in the context,
the share of claims whose every gold sentence is there, distinct documents shown, and context tokens
(the generator's tokenizer). No knob is tuned, so only test claims are asked.

    python -m eval.parents [--limit N]      # needs the SciFact index of `make eval` (eval/retrieval.py)
"""

import argparse
import asyncio
import statistics
from datetime import UTC, datetime

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from eval import scifact
from eval.compression import gold
from eval.reports import command_line, publish
from eval.retrieval import KEY
from ragmesh.suite import BackgroundSuite
from services.gateway.query.context import split_sentences

MODES = ("chunk", "section")
console = Console()


async def measure(client: httpx.AsyncClient, claims: dict[str, dict], top_k: int) -> dict[str, dict]:
    abstracts = {a.id: split_sentences(a.text) for a in scifact.corpus()}
    totals = {mode: {"gold": 0, "shown": 0, "complete": 0, "tokens": [], "documents": []} for mode in MODES}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    ) as bar:
        task = bar.add_task("chunk vs parent section", total=len(claims))
        for entry in claims.values():
            # Every gold sentence of the claim (one past its abstract's end can never be shown).
            wanted = {
                (doc, abstracts[doc][i].text if i < len(abstracts[doc]) else f"#{i}")
                for doc, indices in entry["evidence"].items()
                for i in indices
            }
            for mode in MODES:
                reply = await client.post(
                    "/v1/query",
                    json={
                        "question": entry["claim"],
                        "generate": False,
                        "top_k": top_k,
                        "expand": mode,
                        "compress": False,
                        "context_tokens": 32_000,
                        "self_query": False,
                    },
                )
                reply.raise_for_status()
                body = reply.json()
                shown = {(c["document_id"], q["text"]) for c in body["citations"] for q in c["quotes"]}
                row = totals[mode]
                row["gold"] += len(wanted)
                row["shown"] += len(wanted & shown)
                row["complete"] += wanted <= shown
                row["tokens"].append(body["context"]["tokens"])
                row["documents"].append(len({c["document_id"] for c in body["citations"]}))
            bar.advance(task)
    return {
        mode: {
            "gold_sentences": row["gold"],
            "gold_shown": round(row["shown"] / row["gold"], 4),
            "claims_with_all_gold_shown": round(row["complete"] / len(claims), 4),
            "median_context_tokens": statistics.median(row["tokens"]),
            "median_documents": statistics.median(row["documents"]),
        }
        for mode, row in totals.items()
    }


def markdown(report: dict) -> str:
    lines = [
        f"# Parent-document retrieval — SciFact test ({report['at']})",
        "",
        f"{report['claims']} test claims with gold evidence sentences, top_k {report['top_k']}, no compression.",
        "",
        "| passages | gold evidence sentences shown | claims with all gold shown | median documents | "
        "median context tokens |",
        "|---|---|---|---|---|",
    ]
    for mode, label in (("chunk", "hit chunks (before)"), ("section", "parent sections (after)")):
        row = report["modes"][mode]
        lines.append(
            f"| {label} | {row['gold_shown']:.1%} of {row['gold_sentences']} | "
            f"{row['claims_with_all_gold_shown']:.1%} | {row['median_documents']} | {row['median_context_tokens']} |"
        )
    return "\n".join(lines) + "\n\nReproduce: `python -m eval.parents` (part of `make eval`).\n"


async def main(args: argparse.Namespace) -> dict:
    async with BackgroundSuite(args.data_dir, {KEY: "scifact"}).serving(console, KEY) as client:
        claims = gold("test", args.limit)
        modes = await measure(client, claims, args.top_k)
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "claims": len(claims),
        "top_k": args.top_k,
        "modes": modes,
    }


if __name__ == "__main__":
    parser = command_line(__doc__, "Test claims (default 300: all).")
    parser.add_argument("--top-k", type=int, default=5, help="Chunks retrieved (default 5, the gateway's).")
    publish("parents", asyncio.run(main(parser.parse_args())), markdown, console)
