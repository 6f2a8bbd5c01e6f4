"""Learning from verified labels on SciFact, in process (issue 16): the train claims' relevance judgements stand for
reviewers' labels; a query-side adapter (services/gateway/learning/adapter.py) is trained on 80% of them, stopped on
10%, and the regression gate (learning/gate.py) compares it with the plain embedder on the last 10% and on the test
claims. A deliberately broken adapter, trained (and stopped) on shuffled labels, must be stopped by the gate.

SciFact's splits share abstracts: 181 of the 283 abstracts judged for test claims are judged for train claims too
(196 of the 300 test claims have one). The test claims are also reported in those two parts, so that what the
adapter learned about the questions is told apart from what it learned about those abstracts.

Dense retrieval over every abstract (title and text as one passage), with the embedder the suite runs; hard
negatives are the top-10 abstracts of each claim that its judgements do not name (what a reviewer would have seen
and not marked). Vectors are cached under .ragmesh/eval-cache so reruns start at once.

    python -m eval.adapter
Writes eval/results/adapter.json and .md.
"""

import asyncio
import random
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from eval import scifact
from eval.reports import publish
from services.embedder.config import EmbedderSettings
from services.embedder.model import LocalEmbedder
from services.gateway.learning.adapter import Example, adapt, split_labels, train
from services.gateway.learning.gate import decide, ndcg_at_10

console = Console()
CACHE = Path(".ragmesh/eval-cache")


async def vectors(name: str, texts: list[str], is_query: bool, model_name: str) -> np.ndarray:
    path = CACHE / f"{name}-{model_name.replace('/', '_')}-{len(texts)}.npy"
    if path.exists():
        return np.load(path)
    model = LocalEmbedder(EmbedderSettings())
    await model.warm_up()
    try:
        rows = []
        for start in range(0, len(texts), 64):
            rows.append(await model.embed(texts[start : start + 64], is_query=is_query))
            console.print(f"  {name}: {min(start + 64, len(texts))}/{len(texts)}", end="\r")
    finally:
        await model.close()
    CACHE.mkdir(parents=True, exist_ok=True)
    matrix = np.vstack(rows).astype(np.float32)
    np.save(path, matrix)
    return matrix


def mean_ndcg(matrix: np.ndarray | None, queries: np.ndarray, docs: np.ndarray, ids: list[str], judged: list) -> float:
    adapted = np.asarray([adapt(matrix, q.tolist()) for q in queries], dtype=np.float32)
    top = np.argsort(-(adapted @ docs.T), axis=1)[:, :10]
    return float(np.mean([ndcg_at_10([ids[j] for j in row], rel) for row, rel in zip(top, judged, strict=True)]))


def examples_of(claims: list[tuple[int, str]], queries: np.ndarray, docs: np.ndarray, index: dict, top: np.ndarray):
    """One example per (claim, relevant abstract); the claim's unjudged top 10 as its shown-but-not-relevant."""
    out = []
    for row, doc_id in claims:
        hard = [j for j in top[row] if j != index[doc_id]][:9]
        out.append(Example(queries[row], docs[index[doc_id]], docs[hard]))
    return out


async def run() -> dict:
    rng = random.Random(11)
    every = scifact.corpus()
    ids = [a.id for a in every]
    index = {doc_id: i for i, doc_id in enumerate(ids)}
    texts = scifact.queries()
    train_judged, test_judged = scifact.qrels("train"), scifact.qrels("test")
    model_name = EmbedderSettings().runtime
    docs = await vectors("scifact-corpus", [f"{a.title}. {a.text}" for a in every], False, model_name)
    train_ids, test_ids = sorted(train_judged), sorted(test_judged)
    train_q = await vectors("scifact-train-claims", [texts[q] for q in train_ids], True, model_name)
    test_q = await vectors("scifact-test-claims", [texts[q] for q in test_ids], True, model_name)
    top = np.argsort(-(train_q @ docs.T), axis=1)[:, :10]

    # 80/10/10 by claim (learning/adapter.py split_labels), as the gateway splits a tenant's labels.
    row = {qid: r for r, qid in enumerate(train_ids)}
    learned, validation, held_out = split_labels({q: set(train_judged[q]) for q in train_ids}, seed=11)
    parts = {"train": learned, "validation": validation, "test": held_out}
    pairs = {n: [(row[q], d) for q in qs for d in train_judged[q] if d in index] for n, qs in parts.items()}
    held = [row[q] for q in held_out]
    held_q, held_rel = train_q[held], [set(train_judged[train_ids[r]]) for r in held]
    test_rel = [set(test_judged[q]) for q in test_ids]

    report: dict = {"labels": sum(len(p) for p in pairs.values()), "split": {n: len(p) for n, p in pairs.items()}}
    seen = {d for judged in train_judged.values() for d in judged}
    overlapping = [i for i, q in enumerate(test_ids) if set(test_judged[q]) & seen]
    fresh = [i for i, q in enumerate(test_ids) if not set(test_judged[q]) & seen]
    sets = {
        "label test split": (held_q, held_rel),
        "SciFact test claims": (test_q, test_rel),
        f"test claims sharing an abstract with train ({len(overlapping)})": (
            test_q[overlapping],
            [test_rel[i] for i in overlapping],
        ),
        f"test claims sharing none ({len(fresh)})": (test_q[fresh], [test_rel[i] for i in fresh]),
    }
    shuffle = lambda part: [(r, rng.choice(ids)) for r, _ in part]  # noqa: E731
    runs = {
        "verified labels": (pairs["train"], pairs["validation"]),
        "shuffled labels": (shuffle(pairs["train"]), shuffle(pairs["validation"])),
    }
    for name, (learned_from, stopped_on) in runs.items():
        started = time.perf_counter()
        trained = train(
            examples_of(learned_from, train_q, docs, index, top), examples_of(stopped_on, train_q, docs, index, top)
        )
        seconds = time.perf_counter() - started
        scores = {
            set_name: (mean_ndcg(None, q, docs, ids, rel), mean_ndcg(trained.matrix, q, docs, ids, rel))
            for set_name, (q, rel) in sets.items()
        }
        decision = decide(scores)
        report[name] = {
            "epochs": trained.epochs,
            "train_seconds": seconds,
            "scores": {k: {"served": v[0], "candidate": v[1]} for k, v in scores.items()},
            "gate": "passed" if decision.passed else "aborted",
            "reasons": decision.reasons,
        }
    return report


def markdown(report: dict) -> str:
    lines = [
        "# A query-side adapter learned from verified labels (SciFact, dense, in process)",
        "",
        f"{report['labels']} labels (train claims' judgements), split by claim {report['split']}.",
        "",
        "| trained on | epochs | seconds | set | nDCG@10 served | nDCG@10 candidate | gate |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("verified labels", "shuffled labels"):
        row = report[name]
        for set_name, s in row["scores"].items():
            lines.append(
                f"| {name} | {row['epochs']} | {row['train_seconds']:.1f} | {set_name} | {s['served']:.4f} | "
                f"{s['candidate']:.4f} | {row['gate']} |"
            )
    for name in ("verified labels", "shuffled labels"):
        for reason in report[name]["reasons"]:
            lines.append(f"\n- {name}, gate: {reason}")
    lines += ["", "Reproduce: `python -m eval.adapter`.", ""]
    return "\n".join(lines)


def main() -> None:
    if not scifact.available():
        raise SystemExit(f"SciFact is not at {scifact.data_dir()} (set RAGMESH_SCIFACT_DIR)")
    publish("adapter", asyncio.run(run()), markdown, console)


if __name__ == "__main__":
    main()
