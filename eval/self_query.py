"""Self-query accuracy on a labelled set (eval/self_query/questions.jsonl, 65 questions over a corpus of
papers with year, authors, journal, topics, study type, citations and pages), through the real services:
the schema goes in with PUT /v1/metadata-schema, the corpus through POST /v1/documents, every question
through POST /v1/search, and the filter the gateway reports applying is compared with the label, field by
field (exact match: same fields, same operators, same values). Each set runs twice: the parser alone
(`self_query_llm: false`) and the parser with the LLM for what it leaves (the suite's generator: the local
Gemma 3 270M unless RAGMESH_GENERATOR_MODEL names another LiteLLM model).

    python -m eval.self_query [--data-dir DIR]
Writes eval/results/self-query.json and .md. "Invalid filters reaching Qdrant" counts searches the
retriever refused and applied filters that break the declared schema (both must be 0).
"""

import argparse
import asyncio
import itertools
import json
import os
import random
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console

from eval.reports import publish
from ragmesh.suite import BackgroundSuite

HERE = Path(__file__).resolve().parent / "self_query"
KEY = "self-query-key"
console = Console()

AUTHORS = [
    "Jane Smith",
    "Wei Chen",
    "Amara Okafor",
    "Lars Lindqvist",
    "Priya Raman",
    "Carlos Mendes",
    "Yuki Tanaka",
    "Fatima Haddad",
]
JOURNALS = [
    "Nature",
    "Cell",
    "The Lancet",
    "BMJ",
    "JAMA",
    "New England Journal of Medicine",
    "PLOS ONE",
    "Cancer Research",
]
TOPICS = [
    "oncology",
    "genetics",
    "immunology",
    "cardiology",
    "neuroscience",
    "epidemiology",
    "microbiology",
    "diabetes",
]
STUDY_TYPES = ["randomized trial", "cohort study", "meta-analysis", "case report", "review"]


def corpus(size: int = 48) -> list[dict]:
    """Papers whose metadata covers every value the questions use (fixed seed: the same corpus every run)."""
    rng = random.Random(7)
    papers = []
    for i, (topic, study_type) in enumerate(
        itertools.islice(itertools.cycle(itertools.product(TOPICS, STUDY_TYPES)), size)
    ):
        authors = sorted({AUTHORS[i % len(AUTHORS)], rng.choice(AUTHORS)})
        attributes = {
            "year": 2008 + (i * 7) % 16,
            "authors": authors,
            "journal": JOURNALS[(i * 3) % len(JOURNALS)],
            "topics": sorted({topic, rng.choice(TOPICS)}),
            "study_type": study_type,
            "citations": rng.choice([3, 9, 27, 48, 101, 250, 640]),
            "pages": rng.choice([4, 6, 9, 12, 18, 25]),
        }
        text = (
            f"A {study_type} in {topic}. {', '.join(authors)} report findings from {attributes['year']} on "
            f"{topic} outcomes, published in {attributes['journal']}."
        )
        papers.append(
            {
                "id": f"paper-{i:03d}",
                "title": f"{topic.title()} {study_type} {i}",
                "text": text,
                "attributes": attributes,
            }
        )
    return papers


# questions.jsonl was written alongside the parser; held_out.jsonl was written afterwards and measured once,
# with no parser change in between: its figure is the honest one.
SETS = {"development": "questions.jsonl", "held-out": "held_out.jsonl"}


def questions(name: str) -> list[dict]:
    return [json.loads(line) for line in (HERE / SETS[name]).read_text().splitlines() if line.strip()]


def _normalise(filters: dict) -> dict:
    """Per field: operators with values; lists as sets, so order does not count."""
    return {
        name: {op: (frozenset(v) if isinstance(v, list) else float(v)) for op, v in ops.items()}
        for name, ops in filters.items()
    }


def _breaks_schema(applied: dict, schema: dict) -> bool:
    declared = {f["name"]: f for f in schema["fields"]}
    builtin = {"document_id", "source", "tags", "licence", "content_type", "title"}
    for name, ops in applied.items():
        if name in builtin:
            continue
        if name not in declared or any(op not in declared[name]["operators"] for op in ops):
            return True
    return False


async def load(client: httpx.AsyncClient) -> dict:
    """Declare the schema, ingest the papers; the schema as the gateway then reports it."""
    schema = json.loads((HERE / "schema.json").read_text())
    (await client.put("/v1/metadata-schema", json=schema)).raise_for_status()
    for paper in corpus():
        reply = await client.post(
            "/v1/documents",
            files={"file": (f"{paper['id']}.txt", paper["text"].encode(), "text/plain")},
            data={"document_id": paper["id"], "title": paper["title"], "attributes": json.dumps(paper["attributes"])},
        )
        reply.raise_for_status()
    return (await client.get("/v1/metadata-schema")).json()


async def evaluate(client: httpx.AsyncClient, declared: dict, name: str, llm: bool) -> dict:
    rows, fields_right, fields_total, refused, invalid = [], 0, 0, 0, 0
    llm_ms: list[float] = []
    for item in questions(name):
        reply = await client.post("/v1/search", json={"query": item["question"], "top_k": 5, "self_query_llm": llm})
        if reply.status_code != 200:
            refused += 1
            rows.append({**item, "got": None, "right": False, "status": reply.status_code})
            continue
        body = reply.json()
        if "self_query_llm" in body["timings_ms"]:
            llm_ms.append(body["timings_ms"]["self_query_llm"])
        got = (body["self_query"] or {}).get("filters", {})
        invalid += _breaks_schema(body["filters_applied"], declared)
        expected, found = _normalise(item["filters"]), _normalise(got)
        names = set(expected) | set(found)
        fields_total += len(names)
        fields_right += sum(1 for name in names if expected.get(name) == found.get(name))
        rows.append(
            {
                **item,
                "got": got,
                "query": (body["self_query"] or {}).get("query", item["question"]),
                "right": expected == found,
                "method": (body["self_query"] or {}).get("method", "parser"),
            }
        )
    right = sum(1 for row in rows if row["right"])
    return {
        "set": name,
        "questions": len(rows),
        "fully_right": right,
        "accuracy": round(right / len(rows), 4),
        "field_accuracy": round(fields_right / fields_total, 4) if fields_total else 1.0,
        "refused_searches": refused,
        "applied_filters_breaking_schema": invalid,
        "method": "parser+llm" if llm else "parser",
        "llm_calls": len(llm_ms),
        "llm_filled": sum(1 for row in rows if row.get("method") == "parser+llm"),
        "llm_p50_ms": round(statistics.median(llm_ms), 1) if llm_ms else None,
        "wrong": [row for row in rows if not row["right"]],
    }


def markdown(reports: dict) -> str:
    lines = [
        f"# Self-query — labelled questions ({reports['at']})",
        "",
        f"LLM: {reports.get('model', '?')}.",
        "",
        "| set | method | fully right | accuracy | field accuracy | invalid filters reaching Qdrant | "
        "LLM calls (p50 ms) | questions the LLM added to |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for report in reports["sets"]:
        calls = f"{report['llm_calls']} ({report['llm_p50_ms']})" if report["llm_calls"] else "0"
        lines.append(
            f"| {report['set']} | {report['method']} | {report['fully_right']}/{report['questions']} | "
            f"{report['accuracy']:.1%} | {report['field_accuracy']:.1%} | "
            f"{report['refused_searches'] + report['applied_filters_breaking_schema']} | {calls} | "
            f"{report['llm_filled']} |"
        )
    for report in reports["sets"]:
        lines += ["", f"Wrong ({report['set']}, {report['method']}):", ""]
        lines += [f"- {row['question']!r}: expected {row['filters']}, got {row['got']}" for row in report["wrong"]]
    return "\n".join(lines) + "\n\nReproduce: `python -m eval.self_query` (part of `make eval`).\n"


async def main(data_dir: Path | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="ragmesh-self-query-") as scratch:
        suite = BackgroundSuite(data_dir or Path(scratch), {KEY: "papers"})
        async with suite.serving(console, KEY, timeout=120) as client:
            declared = await load(client)
            report = {
                "sets": [await evaluate(client, declared, name, llm) for name in SETS for llm in (False, True)],
                "model": os.environ.get("RAGMESH_GENERATOR_MODEL", "local Gemma 3 270M (Q4_K_M) via llama.cpp"),
            }
    report["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=None, help="Where the suite keeps its data (default: temp).")
    publish("self-query", asyncio.run(main(parser.parse_args().data_dir)), markdown, console)
