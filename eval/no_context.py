"""No-context detection on SciFact: each claim asked through POST /v1/query (retrieval only) twice, with its
evidence abstracts in the index and with them excluded (a none_of filter on document_id: the retriever sees
the index without them). The question is whether `no_context` fires when, and only when, the evidence is gone.

Three signals, each a threshold calibrated on train claims and reported on test claims: the best passage's
cosine similarity (what the gateway's `relevance_threshold` uses), the best single sentence's similarity
(what compression scores), and term coverage: the largest share of the claim's content words that one passage
holds (the gateway's own `support` measure, with the claim in the answer's place). Also reported: the
gateway's own `no_context` flag at its current settings. Last, the same thresholds on questions from outside
the corpus's domain (eval/no_context/off_topic.txt): the unanswerable questions users ask most.

    python -m eval.no_context [--limit N]      # needs the SciFact index of `make eval` (eval/retrieval.py)
"""

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from eval import scifact
from eval.reports import command_line, publish
from eval.retrieval import KEY
from ragmesh.suite import BackgroundSuite
from services.gateway.query.citations import support

SIGNALS = ("best_passage", "best_sentence", "term_coverage")
OFF_TOPIC = Path(__file__).resolve().parent / "no_context" / "off_topic.txt"
NAMES = {
    "best_passage": "best passage similarity",
    "best_sentence": "best sentence similarity",
    "term_coverage": "term coverage of the best passage",
}
console = Console()


async def _signals(client: httpx.AsyncClient, question: str, filters: dict | None = None) -> dict:
    """One ask: the three signals and the gateway's own flag."""
    # Every sentence scored, none dropped: the signals see the whole passages.
    body = {
        "question": question,
        "generate": False,
        "top_k": 5,
        "self_query": False,
        "compress_min_similarity": -1,
        "compress_passage_margin": -1,
        "context_tokens": 4000,
        "filters": filters or {},
    }
    reply = await client.post("/v1/query", json=body)
    reply.raise_for_status()
    answer = reply.json()
    quotes = [q["similarity"] for c in answer["citations"] for q in c["quotes"] if q["similarity"] is not None]
    return {
        "best_passage": max((c["score"] for c in answer["citations"]), default=0.0),
        "best_sentence": max(quotes, default=0.0),
        "term_coverage": max((support(question, c["text"]) for c in answer["citations"]), default=0.0),
        "no_context": answer["no_context"],
    }


async def observe(client: httpx.AsyncClient, split: str, limit: int | None) -> list[dict]:
    """For each claim, twice (evidence present, evidence excluded): both signals and the gateway's flag."""
    qrels = scifact.qrels(split)
    claims = scifact.queries()
    rows = []
    chosen = sorted(qrels, key=int)[:limit]
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    ) as bar:
        task = bar.add_task(f"no-context on {split}", total=len(chosen))
        for query_id in chosen:
            evidence = sorted(qrels[query_id])
            rows.append({"present": True, **await _signals(client, claims[query_id])})
            excluded = {"document_id": {"none_of": evidence}}
            rows.append({"present": False, **await _signals(client, claims[query_id], excluded)})
            bar.advance(task)
    return rows


def off_topic_questions() -> list[str]:
    lines = OFF_TOPIC.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


async def observe_off_topic(client: httpx.AsyncClient) -> list[dict]:
    """Questions from outside the corpus's domain: what a user most often asks that the corpus cannot answer."""
    return [{"present": False, **await _signals(client, question)} for question in off_topic_questions()]


def detection(flags: list[tuple[bool, bool]]) -> dict[str, float]:
    """Precision and recall of no_context against 'evidence absent', from (flagged, evidence present) pairs."""
    true_positive = sum(1 for flag, present in flags if flag and not present)
    predicted = sum(1 for flag, _ in flags if flag)
    actual = sum(1 for _, present in flags if not present)
    precision = true_positive / predicted if predicted else 1.0
    recall = true_positive / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "flagged": predicted}


def at(rows: list[dict], signal: str, threshold: float) -> dict[str, float]:
    return {"threshold": threshold, **detection([(row[signal] < threshold, row["present"]) for row in rows])}


def auc(rows: list[dict], signal: str) -> float:
    """Chance that a claim with its evidence scores higher than one without: 0.5 is no signal at all."""
    present = [row[signal] for row in rows if row["present"]]
    absent = [row[signal] for row in rows if not row["present"]]
    wins = sum((a > b) + 0.5 * (a == b) for a in present for b in absent)
    return round(wins / (len(present) * len(absent)), 4) if present and absent else 0.5


def calibrate(rows: list[dict], signal: str, min_precision: float = 0.8) -> dict[str, float]:
    """The threshold with the best recall at the required precision (else the best F1)."""
    candidates = [at(rows, signal, t / 100) for t in range(5, 96)]
    precise = [c for c in candidates if c["precision"] >= min_precision and c["recall"] > 0]
    return max(precise, key=lambda c: c["recall"]) if precise else max(candidates, key=lambda c: c["f1"])


def _share(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 4) if flags else 0.0


def summarise(train: list[dict], test: list[dict], off_topic: list[dict]) -> dict:
    result: dict = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "train": len(train),
        "test": len(test),
        "off_topic": len(off_topic),
    }
    with_evidence = [row for row in test if row["present"]]
    result["gateway_flag_on_test"] = detection([(row["no_context"], row["present"]) for row in test])
    result["gateway_flag_off_topic"] = {
        "off_topic_flagged": _share([row["no_context"] for row in off_topic]),
        "test_with_evidence_flagged": _share([row["no_context"] for row in with_evidence]),
    }
    for signal in SIGNALS:
        chosen = calibrate(train, signal)
        threshold = chosen["threshold"]
        result[signal] = {
            "auc_train": auc(train, signal),
            "auc_test": auc(test, signal),
            "calibrated_on_train": chosen,
            "test": at(test, signal, threshold),
            "off_topic_flagged": _share([row[signal] < threshold for row in off_topic]),
            "test_with_evidence_flagged": _share([row[signal] < threshold for row in with_evidence]),
        }
    return result


def markdown(result: dict) -> str:
    flag = result["gateway_flag_on_test"]
    lines = [
        f"# No-context detection — SciFact ({result['at']})",
        "",
        f"{result['test']} asks on test ({result['test'] // 2} claims, each with its evidence and without it); "
        f"thresholds calibrated on {result['train']} train asks (best recall at precision >= 0.8).",
        "",
        "| signal | AUC train | AUC test | threshold (from train) | test precision | test recall | flagged |",
        "|---|---|---|---|---|---|---|",
        f"| gateway's no_context as configured | | | | {flag['precision']:.1%} | {flag['recall']:.1%} | "
        f"{flag['flagged']} |",
    ]
    for signal in SIGNALS:
        row = result[signal]
        test = row["test"]
        lines.append(
            f"| {NAMES[signal]} | {row['auc_train']:.3f} | {row['auc_test']:.3f} | "
            f"{test['threshold']:.2f} | {test['precision']:.1%} | {test['recall']:.1%} | {test['flagged']} |"
        )
    gateway = result["gateway_flag_off_topic"]
    lines += [
        "",
        f"The same thresholds on {result['off_topic']} questions from outside the corpus's domain "
        "(`eval/no_context/off_topic.txt`), against the test claims asked with their evidence:",
        "",
        "| signal | threshold | off-topic questions flagged | test claims with evidence flagged |",
        "|---|---|---|---|",
        f"| gateway's no_context as configured | | {gateway['off_topic_flagged']:.1%} | "
        f"{gateway['test_with_evidence_flagged']:.1%} |",
    ]
    for signal in SIGNALS:
        row = result[signal]
        lines.append(
            f"| {NAMES[signal]} | {row['test']['threshold']:.2f} | {row['off_topic_flagged']:.1%} | "
            f"{row['test_with_evidence_flagged']:.1%} |"
        )
    return "\n".join(lines) + "\n\nReproduce: `python -m eval.no_context` (part of `make eval`).\n"


async def main(args: argparse.Namespace) -> dict:
    async with BackgroundSuite(args.data_dir, {KEY: "scifact"}).serving(console, KEY) as client:
        train = await observe(client, "train", args.limit)
        test = await observe(client, "test", args.limit)
        off_topic = await observe_off_topic(client)
    return summarise(train, test, off_topic)


if __name__ == "__main__":
    arguments = command_line(__doc__, "Claims per split (default 300).").parse_args()
    publish("no-context", asyncio.run(main(arguments)), markdown, console)
