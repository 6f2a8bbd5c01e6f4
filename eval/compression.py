"""Contextual compression on SciFact claims with gold evidence sentences, through the real services.

Each claim is asked through POST /v1/query (retrieval only, top 5, parent sections) twice: without
compression (what the generator would be shown otherwise) and with it. Compression has two knobs: the
sentence threshold (cosine to the claim) and the passage margin (a passage whose best sentence is that far
under the context's best goes whole). Reported: context tokens saved
(the generator's tokenizer) and the share of gold evidence sentences kept, over the gold abstracts that were
in the uncompressed context (the sentence indices of claims_*.csv are mapped onto the gateway's own sentence
split of the abstract; 1 of 338 test rows points past its end and counts as lost). Both knobs are tuned on
train claims only: the setting that saves most while keeping >= 90% of gold sentences there.

    python -m eval.compression [--limit N]      # needs the SciFact index of `make eval` (eval/retrieval.py)
"""

import argparse
import asyncio
import csv
import json
import statistics
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from eval import scifact
from eval.retrieval import KEY
from ragmesh.suite import BackgroundSuite
from services.gateway.context import split_sentences

RESULTS = Path(__file__).resolve().parent / "results"
# (sentence threshold, passage margin; -1 means no passage is dropped whole)
GRID = [(t, m) for m in (-1.0, 0.05, 0.1, 0.15) for t in (0.25, 0.3, 0.35)]
BUDGET = 4000  # large: the threshold alone decides what goes
console = Console()


def gold(split: str, limit: int | None) -> dict[str, dict]:
    """claim id -> {claim, evidence: {doc id: sentence indices}} for claims with evidence sentences."""
    name = "claims_validation.csv" if split == "test" else "claims_train.csv"
    claims: dict[str, dict] = {}
    with (scifact.data_dir() / name).open() as rows:
        for row in csv.DictReader(rows):
            indices = [int(i) for i in row["evidence_sentences"].strip("[]").split()]
            if not row["evidence_doc_id"] or not indices:
                continue
            entry = claims.setdefault(row["id"], {"claim": row["claim"], "evidence": defaultdict(set)})
            entry["evidence"][row["evidence_doc_id"]].update(indices)
    chosen = sorted(claims, key=int)[:limit]
    return {claim_id: claims[claim_id] for claim_id in chosen}


async def _ask(client: httpx.AsyncClient, claim: str, **options) -> dict:
    body = {"question": claim, "generate": False, "top_k": 5, "context_tokens": BUDGET, "self_query": False}
    reply = await client.post("/v1/query", json={**body, **options})
    reply.raise_for_status()
    return reply.json()


async def measure(
    client: httpx.AsyncClient, claims: dict[str, dict], thresholds: list[tuple[float, float]], label: str
) -> dict:
    abstracts = {a.id: a.text for a in scifact.corpus()}
    totals = {t: {"before": 0, "after": 0, "gold": 0, "kept": 0} for t in thresholds}
    savings: dict[float, list[float]] = {t: [] for t in thresholds}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    ) as bar:
        task = bar.add_task(f"compression on {label}", total=len(claims))
        for entry in claims.values():
            full = await _ask(client, entry["claim"], compress=False)
            shown = {c["document_id"] for c in full["citations"]}
            for threshold in thresholds:
                compressed = await _ask(
                    client,
                    entry["claim"],
                    compress_min_similarity=threshold[0],
                    compress_passage_margin=threshold[1],
                )
                stats = compressed["context"]
                totals[threshold]["before"] += stats["tokens_before_compression"]
                totals[threshold]["after"] += stats["tokens"]
                if stats["tokens_before_compression"]:
                    savings[threshold].append(1 - stats["tokens"] / stats["tokens_before_compression"])
                quotes = defaultdict(list)
                for citation in compressed["citations"]:
                    quotes[citation["document_id"]].extend(q["text"] for q in citation["quotes"])
                for doc, indices in entry["evidence"].items():
                    if doc not in shown:
                        continue
                    sentences = split_sentences(abstracts[doc])
                    for index in indices:
                        totals[threshold]["gold"] += 1
                        if index < len(sentences) and sentences[index].text in quotes[doc]:
                            totals[threshold]["kept"] += 1
            bar.advance(task)
    return {
        f"{t[0]}/{t[1]}": {
            "tokens_saved": round(1 - totals[t]["after"] / totals[t]["before"], 4) if totals[t]["before"] else 0.0,
            "median_tokens_saved_per_claim": round(statistics.median(savings[t]), 4) if savings[t] else 0.0,
            "gold_sentences": totals[t]["gold"],
            "gold_kept": round(totals[t]["kept"] / totals[t]["gold"], 4) if totals[t]["gold"] else 0.0,
        }
        for t in thresholds
    }


def choose(train: dict, floor: float = 0.9) -> tuple[float, float]:
    """The setting that saves the most tokens while keeping at least `floor` of the gold sentences on train."""
    good = [key for key, row in train.items() if row["gold_kept"] >= floor] or list(train)
    best = max(good, key=lambda key: train[key]["tokens_saved"])
    threshold, margin = best.split("/")
    return float(threshold), float(margin)


def markdown(report: dict) -> str:
    lines = [
        f"# Contextual compression — SciFact ({report['at']})",
        "",
        f"Setting tuned on {report['train_claims']} train claims: **{report['chosen']}** (sentence threshold, "
        "passage margin; the most tokens saved while keeping >= 90% of gold sentences there; margin -1: no "
        f"passage dropped whole). Test: {report['test_claims']} claims.",
        "",
        "| split | sentence threshold / passage margin | context tokens saved | median per claim | "
        "gold evidence sentences kept |",
        "|---|---|---|---|---|",
    ]
    for split in ("train", "test"):
        for threshold, row in report[split].items():
            lines.append(
                f"| {split} | {threshold} | {row['tokens_saved']:.1%} | {row['median_tokens_saved_per_claim']:.1%} | "
                f"{row['gold_kept']:.1%} of {row['gold_sentences']} |"
            )
    return "\n".join(lines) + "\n\nReproduce: `python -m eval.compression` (part of `make eval`).\n"


async def main(args: argparse.Namespace) -> dict:
    suite = BackgroundSuite(args.data_dir, {KEY: "scifact"})
    try:
        suite.wait_up(console)
        async with httpx.AsyncClient(base_url=suite.url, headers={"X-API-Key": KEY}, timeout=300) as client:
            train_claims = gold("train", args.limit)
            train = await measure(client, train_claims, GRID, "train")
            chosen = choose(train)
            test_claims = gold("test", args.limit)
            test = await measure(client, test_claims, sorted({chosen, (0.35, -1.0)}), "test")
    finally:
        suite.stop()
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_claims": len(train_claims),
        "test_claims": len(test_claims),
        "chosen": chosen,
        "train": train,
        "test": test,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(".ragmesh/eval-scifact"), help="The SciFact suite's data."
    )
    parser.add_argument("--limit", type=int, default=200, help="Claims per split (default 200).")
    result = asyncio.run(main(parser.parse_args()))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "compression.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "compression.md").write_text(markdown(result))
    console.print(markdown(result))
