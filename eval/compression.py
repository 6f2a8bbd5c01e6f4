"""Contextual compression on SciFact claims with gold evidence sentences, through the real services.

Compression has two knobs: the sentence threshold (cosine to the claim) and the passage margin (a passage
whose best sentence is that far under the context's best goes whole). Reported: context tokens saved (the
generator's own tokenizer) and the share of gold evidence sentences kept, over the gold sentences that were
in the uncompressed context (the sentence indices of claims_*.csv are mapped onto the gateway's own sentence
split of the abstract; gold sentences retrieval never showed are counted apart: compression cannot keep them).

Tuning replays the gateway: each claim is asked once through POST /v1/query (retrieval only, top 5, parent
sections) with compression scoring every sentence and dropping none; every setting of the grid is then
applied by the gateway's own `keep_relevant` to those scored sentences, with token counts from the
generator's CountTokens. The setting that saves the most tokens while keeping >= 90% of gold sentences on
train is chosen; test claims are then asked with it for real (the figures reported for test are the
gateway's own), and the replay of the same setting on test is reported beside them as a check.

    python -m eval.compression [--limit N]      # needs the SciFact index of `make eval` (eval/retrieval.py)
"""

import argparse
import asyncio
import csv
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from eval import scifact
from eval.reports import command_line, publish
from eval.retrieval import KEY
from ragmesh.generator.v1 import generator_pb2, generator_pb2_grpc
from ragmesh.suite import BackgroundSuite
from services.gateway.query.context import Passage, Sentence, keep_relevant, split_sentences

# (sentence threshold, passage margin; -1 means no passage is dropped whole)
GRID = [(t, m) for m in (-1.0, 0.05, 0.075, 0.1, 0.125, 0.15) for t in (0.25, 0.3, 0.35)]
FLOOR = 0.9  # gold sentences to keep on train
BUDGET = 4000  # large: the knobs alone decide what goes
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


@dataclass
class Context:
    """One claim's uncompressed context, every sentence scored by the gateway, and its gold sentences."""

    passages: list[dict]  # citations of the reply: document_id and quotes (text, offsets, similarity)
    gold: set[tuple[str, str]]  # (document id, sentence text) shown before compression
    absent: int  # gold sentences of shown abstracts that retrieval did not show


async def _ask(client: httpx.AsyncClient, claim: str, **options) -> dict:
    body = {"question": claim, "generate": False, "top_k": 5, "context_tokens": BUDGET, "self_query": False}
    reply = await client.post("/v1/query", json={**body, **options})
    reply.raise_for_status()
    return reply.json()


def _gold_shown(entry: dict, citations: list[dict], abstracts: dict[str, str]) -> tuple[set[tuple[str, str]], int]:
    shown = {(c["document_id"], q["text"]) for c in citations for q in c["quotes"]}
    documents = {c["document_id"] for c in citations}
    present, absent = set(), 0
    for doc, indices in entry["evidence"].items():
        if doc not in documents:
            continue
        sentences = split_sentences(abstracts[doc])
        for index in indices:
            key = (doc, sentences[index].text) if index < len(sentences) else None
            if key in shown:
                present.add(key)
            else:
                absent += 1
    return present, absent


async def collect(
    client: httpx.AsyncClient, tokenizer: generator_pb2_grpc.GeneratorServiceStub, claims: dict[str, dict], label: str
) -> tuple[list[Context], dict[str, int]]:
    """Each claim's context with every sentence scored and none dropped, and every sentence's token count."""
    abstracts = {a.id: a.text for a in scifact.corpus()}
    contexts, tokens = [], {}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    ) as bar:
        task = bar.add_task(f"scoring {label} contexts", total=len(claims))
        for entry in claims.values():
            reply = await _ask(client, entry["claim"], compress_min_similarity=-1, compress_passage_margin=-1)
            texts = sorted({q["text"] for c in reply["citations"] for q in c["quotes"]} - tokens.keys())
            if texts:
                counted = await tokenizer.CountTokens(generator_pb2.CountTokensRequest(texts=texts), timeout=60)
                tokens.update(zip(texts, counted.counts, strict=True))
            present, absent = _gold_shown(entry, reply["citations"], abstracts)
            contexts.append(Context(reply["citations"], present, absent))
            bar.advance(task)
    return contexts, tokens


def replay(contexts: list[Context], tokens: dict[str, int], setting: tuple[float, float]) -> dict:
    """What the gateway keeps at `setting`, applied by its own keep_relevant to the scored sentences."""
    before = after = kept = total = absent = 0
    savings = []
    for context in contexts:
        passages = [
            Passage(
                document_id=c["document_id"],
                title="",
                source="",
                heading_path=[],
                section_id="",
                chunk_index=0,
                similarity=c["score"],
                sentences=[Sentence(q["text"], q["char_start"], q["char_end"], q["similarity"]) for q in c["quotes"]],
            )
            for c in context.passages
        ]
        claim_before = sum(tokens[s.text] for p in passages for s in p.sentences)
        threshold, margin = setting
        passages = keep_relevant(passages, threshold, None if margin < 0 else margin)
        claim_after = sum(tokens[s.text] for p in passages for s in p.sentences)
        remaining = {(p.document_id, s.text) for p in passages for s in p.sentences}
        before, after = before + claim_before, after + claim_after
        if claim_before:
            savings.append(1 - claim_after / claim_before)
        total, absent = total + len(context.gold), absent + context.absent
        kept += len(context.gold & remaining)
    return _row(before, after, savings, kept, total, absent)


def _row(before: int, after: int, savings: list[float], kept: int, total: int, absent: int) -> dict:
    return {
        "tokens_saved": round(1 - after / before, 4) if before else 0.0,
        "median_tokens_saved_per_claim": round(statistics.median(savings), 4) if savings else 0.0,
        "gold_sentences": total,
        "gold_kept": round(kept / total, 4) if total else 0.0,
        "gold_absent_before_compression": absent,
    }


async def confirm(client: httpx.AsyncClient, claims: dict[str, dict], label: str, **options) -> dict:
    """The gateway compressing for real with `options`: its own token counts, what its citations still quote;
    for the LLM extractor also how often it fell back to similarity and what it cost."""
    abstracts = {a.id: a.text for a in scifact.corpus()}
    before = after = kept = total = absent = fell_back = 0
    savings, llm_ms = [], []
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    ) as bar:
        task = bar.add_task(f"compressing test claims ({label})", total=len(claims))
        for entry in claims.values():
            full = await _ask(client, entry["claim"], compress=False)
            present, missing = _gold_shown(entry, full["citations"], abstracts)
            reply = await _ask(client, entry["claim"], **options)
            if options.get("compress_method") == "llm":
                fell_back += reply["context"]["compression"] != "llm"
                llm_ms.extend([reply["timings_ms"]["compress_llm"]] if "compress_llm" in reply["timings_ms"] else [])
            stats = reply["context"]
            before, after = before + stats["tokens_before_compression"], after + stats["tokens"]
            if stats["tokens_before_compression"]:
                savings.append(1 - stats["tokens"] / stats["tokens_before_compression"])
            remaining = {(c["document_id"], q["text"]) for c in reply["citations"] for q in c["quotes"]}
            total, absent, kept = total + len(present), absent + missing, kept + len(present & remaining)
            bar.advance(task)
    row = _row(before, after, savings, kept, total, absent)
    if options.get("compress_method") == "llm":
        row |= {"fell_back": fell_back, "llm_p50_ms": statistics.median(llm_ms) if llm_ms else None}
    return row


def choose(train: dict, floor: float = FLOOR) -> tuple[float, float]:
    """The setting that saves the most tokens while keeping at least `floor` of the gold sentences on train."""
    good = [key for key, row in train.items() if row["gold_kept"] >= floor] or list(train)
    best = max(good, key=lambda key: train[key]["tokens_saved"])
    threshold, margin = best.split("/")
    return float(threshold), float(margin)


def markdown(report: dict) -> str:
    chosen = "/".join(str(x) for x in report["chosen"])
    lines = [
        f"# Contextual compression — SciFact ({report['at']})",
        "",
        f"Setting tuned on {report['train_claims']} train claims: **{chosen}** (sentence threshold / passage "
        f"margin; the most tokens saved while keeping >= {FLOOR:.0%} of gold sentences there; margin -1: no "
        f"passage dropped whole). Test: {report['test_claims']} claims, asked through the gateway at that "
        "setting. Gold sentences kept are counted over those in the uncompressed context; the last column "
        "counts the gold sentences retrieval never showed (compression cannot keep them).",
        "",
        "| split | threshold / margin | how | context tokens saved | median per claim | gold sentences kept | "
        "gold not shown |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = [("train", key, "replay", row) for key, row in report["train"].items()]
    rows += [("test", chosen, "gateway", report["test"]), ("test", chosen, "replay", report["test_replay"])]
    for split, key, how, row in rows:
        lines.append(
            f"| {split} | {key} | {how} | {row['tokens_saved']:.1%} | {row['median_tokens_saved_per_claim']:.1%} | "
            f"{row['gold_kept']:.1%} of {row['gold_sentences']} | {row['gold_absent_before_compression']} |"
        )
    extractor = report.get("llm_extractor")
    if extractor:
        llm = extractor["llm"]
        lines += [
            "",
            f"The optional LLM extractor (`compress_method: llm`, the suite's generator) on the first "
            f"{extractor['claims']} test claims, against similarity at {chosen} on the same claims. It fell back to "
            f"similarity {llm['fell_back']} times; extractor call p50 {llm['llm_p50_ms']} ms.",
            "",
            "| method | context tokens saved | median per claim | gold sentences kept |",
            "|---|---|---|---|",
        ]
        for method in ("similarity", "llm"):
            row = extractor[method]
            lines.append(
                f"| {method} | {row['tokens_saved']:.1%} | {row['median_tokens_saved_per_claim']:.1%} | "
                f"{row['gold_kept']:.1%} of {row['gold_sentences']} |"
            )
    return "\n".join(lines) + "\n\nReproduce: `python -m eval.compression` (part of `make eval`).\n"


async def main(args: argparse.Namespace) -> dict:
    suite = BackgroundSuite(args.data_dir, {KEY: "scifact"})
    async with (
        suite.serving(console, KEY) as client,
        grpc.aio.insecure_channel(f"127.0.0.1:{suite.ports['generator']}") as channel,
    ):
        tokenizer = generator_pb2_grpc.GeneratorServiceStub(channel)
        train_claims = gold("train", args.limit)
        contexts, tokens = await collect(client, tokenizer, train_claims, "train")
        train = {f"{t}/{m}": replay(contexts, tokens, (t, m)) for t, m in GRID}
        chosen = choose(train)
        test_claims = gold("test", args.limit)
        setting = {"compress_min_similarity": chosen[0], "compress_passage_margin": chosen[1]}
        test = await confirm(client, test_claims, f"similarity {chosen}", **setting)
        contexts, tokens = await collect(client, tokenizer, test_claims, "test")
        test_replay = replay(contexts, tokens, chosen)
        extractor = {}
        if args.llm_limit:
            subset = dict(list(test_claims.items())[: args.llm_limit])
            extractor = {
                "claims": len(subset),
                "similarity": await confirm(client, subset, f"similarity {chosen}", **setting),
                "llm": await confirm(client, subset, "LLM extractor", compress_method="llm", **setting),
            }
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_claims": len(train_claims),
        "test_claims": len(test_claims),
        "chosen": chosen,
        "train": train,
        "test": test,
        "test_replay": test_replay,
        "llm_extractor": extractor,
    }


if __name__ == "__main__":
    parser = command_line(__doc__, "Claims per split (default 300: all of test).")
    parser.add_argument(
        "--llm-limit", type=int, default=100, help="Test claims for the LLM extractor (default 100; 0: skip it)."
    )
    arguments = parser.parse_args()
    publish("compression", asyncio.run(main(arguments)), markdown, console)
