"""BEIR SciFact, read from ../shared/eval/scifact (never copied into the project)."""

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "eval" / "scifact"


def data_dir() -> Path:
    return Path(os.environ.get("RAGMESH_SCIFACT_DIR", DEFAULT_DIR))


def available() -> bool:
    return (data_dir() / "corpus.jsonl").exists()


@dataclass(frozen=True)
class Abstract:
    id: str
    title: str
    text: str


def corpus() -> list[Abstract]:
    with (data_dir() / "corpus.jsonl").open() as lines:
        return [Abstract(d["_id"], d["title"], d["text"]) for d in map(json.loads, lines)]


def queries() -> dict[str, str]:
    with (data_dir() / "queries.jsonl").open() as lines:
        return {d["_id"]: d["text"] for d in map(json.loads, lines)}


def qrels(split: str) -> dict[str, dict[str, int]]:
    """query id -> {document id: relevance}, for "train" or "test"."""
    judged: dict[str, dict[str, int]] = {}
    with (data_dir() / "qrels" / f"{split}.tsv").open() as rows:
        for row in csv.DictReader(rows, delimiter="\t"):
            judged.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    return judged
