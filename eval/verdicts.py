"""End to end on SciFact claims_validation.csv: is each claim supported, contradicted, or not settled by the
corpus? Every claim goes through POST /v1/verify of the real suite (retrieval, parent sections, compression,
then the generator's Extract held to the verdict schema).

Reported: verdict accuracy (3 classes) and macro-F1 against `evidence_label` (empty = NOT_ENOUGH_INFO),
per-class recall, the confusion matrix, and two baselines measured on the same claims: always the most common
label, and "retrieval alone" (citing the top passage). Citation precision: cited documents that are gold
evidence (`evidence_doc_id`), over claims that have gold evidence; citation recall: gold documents cited.

    python -m eval.verdicts [--limit N]                      # the local Gemma 3 270M (the suite's default)
    OPENAI_API_KEY=... python -m eval.verdicts --model openai/gpt-4o-mini   # any LiteLLM model with its key

Needs the SciFact index of `make eval` (eval/retrieval.py). Reports: eval/results/verdicts-<model>.json/.md.
"""

import argparse
import asyncio
import csv
import re
import statistics
from collections import Counter
from datetime import UTC, datetime

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from eval import scifact
from eval.reports import command_line, publish
from eval.retrieval import KEY
from ragmesh.suite import BackgroundSuite

LABELS = ("SUPPORT", "CONTRADICT", "NOT_ENOUGH_INFO")
LOCAL = "local Gemma 3 270M (Q4_K_M, llama.cpp)"
console = Console()


def claims(limit: int | None) -> list[dict]:
    """One entry per test claim: text, gold label, gold evidence documents."""
    found: dict[str, dict] = {}
    with (scifact.data_dir() / "claims_validation.csv").open() as rows:
        for row in csv.DictReader(rows):
            entry = found.setdefault(
                row["id"], {"id": row["id"], "claim": row["claim"], "labels": set(), "docs": set()}
            )
            entry["labels"].add(row["evidence_label"] or "NOT_ENOUGH_INFO")
            if row["evidence_doc_id"]:
                entry["docs"].add(row["evidence_doc_id"])
    chosen = sorted(found.values(), key=lambda c: int(c["id"]))[:limit]
    for entry in chosen:
        # A claim labelled differently by its evidence documents (none in this file) would count as its first.
        entry["label"] = sorted(entry["labels"])[0]
    return chosen


def f1(gold: list[str], predicted: list[str], label: str) -> float:
    tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p == label)
    precision = tp / max(1, sum(1 for p in predicted if p == label))
    recall = tp / max(1, sum(1 for g in gold if g == label))
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def scores(rows: list[dict], key: str) -> dict:
    gold = [row["label"] for row in rows]
    predicted = [row[key] or "NOT_ENOUGH_INFO" for row in rows]
    return {
        "accuracy": round(sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(rows), 4),
        "macro_f1": round(statistics.mean(f1(gold, predicted, label) for label in LABELS), 4),
        "recall": {
            label: round(
                sum(1 for g, p in zip(gold, predicted, strict=True) if g == p == label)
                / max(1, sum(1 for g in gold if g == label)),
                4,
            )
            for label in LABELS
        },
        "confusion": {
            g: {p: sum(1 for r in rows if r["label"] == g and (r[key] or "NOT_ENOUGH_INFO") == p) for p in LABELS}
            for g in LABELS
        },
    }


def citations(rows: list[dict], key: str) -> dict:
    """Micro precision and recall of cited documents against gold evidence, over claims with gold evidence."""
    judged = [row for row in rows if row["docs"]]
    cited = sum(len(row[key]) for row in judged)
    right = sum(len(set(row[key]) & row["docs"]) for row in judged)
    gold = sum(len(row["docs"]) for row in judged)
    return {
        "claims_with_gold_evidence": len(judged),
        "cited_documents": cited,
        "precision": round(right / cited, 4) if cited else 0.0,
        "recall": round(right / gold, 4) if gold else 0.0,
    }


async def run(client: httpx.AsyncClient, chosen: list[dict]) -> list[dict]:
    rows = []
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    ) as bar:
        task = bar.add_task("verifying claims", total=len(chosen))
        for entry in chosen:
            reply = await client.post("/v1/verify", json={"claim": entry["claim"], "top_k": 5, "self_query": False})
            reply.raise_for_status()
            body = reply.json()
            shown = [c["document_id"] for c in body["citations"]]
            rows.append(
                {
                    **entry,
                    "verdict": body["verdict"],
                    "degraded": body["degraded"],
                    "no_context": body["no_context"],
                    "cited": sorted({c["document_id"] for c in body["citations"] if c["cited"]}),
                    "top_passage": shown[:1],
                    "gold_shown": bool(entry["docs"] & set(shown)),
                    "ms": body["timings_ms"].get("generate"),
                    "model": body["model"],
                    "cost_usd": body["usage"]["cost_usd"],
                }
            )
            bar.advance(task)
    return rows


def report(rows: list[dict], model: str) -> dict:
    majority = Counter(row["label"] for row in rows).most_common(1)[0][0]
    for row in rows:
        row["majority"] = majority
        # Retrieval alone "cites" its best passage; it has no verdict of its own.
        row["retrieval_cites"] = row["top_passage"]
    llm_ms = [row["ms"] for row in rows if row["ms"] is not None]
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model,
        "claims": len(rows),
        "labels": dict(Counter(row["label"] for row in rows)),
        "verdicts": scores(rows, "verdict"),
        "baseline_majority": {"label": majority, **scores(rows, "majority")},
        "citations": citations(rows, "cited"),
        "baseline_retrieval_top1_citations": citations(rows, "retrieval_cites"),
        "gold_evidence_shown_to_the_model": round(
            sum(1 for r in rows if r["docs"] and r["gold_shown"]) / max(1, sum(1 for r in rows if r["docs"])), 4
        ),
        "degraded": sum(1 for row in rows if row["degraded"]),
        "no_context": sum(1 for row in rows if row["no_context"]),
        "verdict_p50_ms": round(statistics.median(llm_ms), 1) if llm_ms else None,
        "cost_usd": round(sum(row["cost_usd"] for row in rows), 6),
        "rows": [{k: (sorted(v) if isinstance(v, set) else v) for k, v in row.items()} for row in rows],
    }


def _recalls(scored: dict) -> str:
    return " / ".join(f"{scored['recall'][label]:.0%}" for label in LABELS)


def markdown(result: dict) -> str:
    v, b = result["verdicts"], result["baseline_majority"]
    c, r = result["citations"], result["baseline_retrieval_top1_citations"]
    labels = ", ".join(f"{k} {n}" for k, n in sorted(result["labels"].items()))
    shown = result["gold_evidence_shown_to_the_model"]
    lines = [
        f"# Claim verification — SciFact claims_validation.csv ({result['at']})",
        "",
        f"Model: **{result['model']}**. {result['claims']} claims ({labels}); gold evidence was among the "
        f"passages shown for {shown:.1%} of the claims that have it.",
        "",
        "| | verdict accuracy | macro-F1 | recall SUPPORT / CONTRADICT / NEI | citation precision | citation recall |",
        "|---|---|---|---|---|---|",
        f"| /v1/verify | {v['accuracy']:.1%} | {v['macro_f1']:.3f} | "
        f"{_recalls(v)} | {c['precision']:.1%} | {c['recall']:.1%} |",
        f"| baseline: always {b['label']} | {b['accuracy']:.1%} | {b['macro_f1']:.3f} | {_recalls(b)} | | |",
        f"| baseline: retrieval's top passage | | | | {r['precision']:.1%} | {r['recall']:.1%} |",
        "",
        f"Ratio to the majority baseline: {v['accuracy'] / b['accuracy']:.2f}x accuracy. Degraded (no verdict): "
        f"{result['degraded']}; no_context: {result['no_context']}; verdict p50 {result['verdict_p50_ms']} ms; "
        f"cost ${result['cost_usd']}.",
        "",
        "Confusion (rows gold, columns verdict):",
        "",
        "| gold \\ verdict | " + " | ".join(LABELS) + " |",
        "|---|---|---|---|",
    ]
    lines += [f"| {g} | " + " | ".join(str(v["confusion"][g][p]) for p in LABELS) + " |" for g in LABELS]
    command = "python -m eval.verdicts" + ("" if result["model"] == LOCAL else f" --model {result['model']}")
    command += f" --limit {result['claims']}" if result["claims"] < 300 else ""
    return "\n".join(lines) + f"\n\nReproduce: `{command}`.\n"


async def main(args: argparse.Namespace) -> dict:
    env = {"RAGMESH_GENERATOR_MODEL": args.model} if args.model else {}
    async with BackgroundSuite(args.data_dir, {KEY: "scifact"}, env=env).serving(console, KEY) as client:
        rows = await run(client, claims(args.limit))
    return report(rows, args.model or LOCAL)


if __name__ == "__main__":
    parser = command_line(__doc__, "Claims to ask (default: all 300).", limit=None)
    parser.add_argument("--model", default="", help="A LiteLLM model string (its key in the environment).")
    arguments = parser.parse_args()
    slug = re.sub(r"[^a-z0-9]+", "-", (arguments.model or "local-gemma").lower()).strip("-")
    publish(f"verdicts-{slug}", asyncio.run(main(arguments)), markdown, console)
