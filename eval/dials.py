"""Dials on held-out SciFact data (issue 16): a "clinical" dial learned from 40 contrastive pairs of abstracts
(studies of patients against studies of mice and cells, told apart by their wording), then every test claim searched
densely over the abstracts with the dial at each weight. Reported: how the share of clinical and laboratory
abstracts in the top 10 moves with the weight, nDCG@10 at each weight (the claims' own judgements), the dial's
accuracy on 400 held-out pairs, that weight 0 changes no ranking, and what steering costs per query.

In process, with the embedder the suite runs (RAGMESH_EMBEDDER_RUNTIME, onnx-int8 by default) and the gateway's own
steering code (services/gateway/learning/steering.py); dense search is a matrix product over the abstracts.

    python -m eval.dials [--documents 2000] [--strength 0.5]
Writes eval/results/dials.json and .md.
"""

import argparse
import asyncio
import random
import re
import statistics
import time

import numpy as np
import pytrec_eval
from rich.console import Console

from eval import scifact
from eval.reports import publish
from services.embedder.config import EmbedderSettings
from services.embedder.model import LocalEmbedder
from services.gateway.learning.steering import Dial, direction, held_out_accuracy, steering

console = Console()
CLINICAL = re.compile(r"\b(patients?|clinical|trials?|cohort|participants|randomi[sz]ed|hospital)\b", re.I)
LABORATORY = re.compile(r"\b(mice|mouse|murine|rats?|in vitro|cell lines?|knockout|zebrafish)\b", re.I)
WEIGHTS = [-1.0, -0.5, 0.0, 0.5, 1.0]


def kind(abstract: scifact.Abstract) -> str:
    text = f"{abstract.title} {abstract.text}"
    clinical, laboratory = bool(CLINICAL.search(text)), bool(LABORATORY.search(text))
    return "clinical" if clinical and not laboratory else "laboratory" if laboratory and not clinical else ""


async def embed(model: LocalEmbedder, texts: list[str], is_query: bool) -> np.ndarray:
    rows = [await model.embed(texts[i : i + 64], is_query=is_query) for i in range(0, len(texts), 64)]
    return np.vstack(rows).astype(np.float32)


async def run(documents: int, strength: float) -> dict:
    rng = random.Random(7)
    judged = scifact.qrels("test")
    claims = {qid: text for qid, text in scifact.queries().items() if qid in judged}
    every = scifact.corpus()
    needed = {doc for docs in judged.values() for doc in docs}
    rest = [a for a in every if a.id not in needed]
    rng.shuffle(rest)
    corpus = [a for a in every if a.id in needed] + rest[: max(0, documents - len(needed))]
    kinds = {a.id: kind(a) for a in corpus}
    clinical = [a for a in corpus if kinds[a.id] == "clinical"]
    laboratory = [a for a in corpus if kinds[a.id] == "laboratory"]
    # Pairs come from abstracts outside the searched corpus, so the dial never learned the documents it ranks.
    outside = [a for a in rest[max(0, documents - len(needed)) :] if kind(a)]
    pos = [a for a in outside if kind(a) == "clinical"]
    neg = [a for a in outside if kind(a) == "laboratory"]
    train = list(zip(pos[:40], neg[:40], strict=True))
    held = list(zip(pos[40:440], neg[40:440], strict=True))

    model = LocalEmbedder(EmbedderSettings())
    await model.warm_up()
    try:
        console.print(f"embedding {len(corpus)} abstracts, {len(claims)} claims, {len(train) + len(held)} pairs")
        text = lambda a: f"{a.title}. {a.text}"  # noqa: E731
        matrix = await embed(model, [text(a) for a in corpus], is_query=False)
        queries = await embed(model, list(claims.values()), is_query=True)
        train_pos = await embed(model, [text(p) for p, _ in train], is_query=False)
        train_neg = await embed(model, [text(n) for _, n in train], is_query=False)
        held_pos = await embed(model, [text(p) for p, _ in held], is_query=False)
        held_neg = await embed(model, [text(n) for _, n in held], is_query=False)
    finally:
        await model.close()

    learned = direction(train_pos, train_neg)
    dial = {"clinical": Dial("clinical", "eval", learned)}
    ids = [a.id for a in corpus]
    rows = []
    plain_top = np.argsort(-(queries @ matrix.T), axis=1)[:, :10]
    for weight in WEIGHTS:
        steer = steering(dial, {"clinical": weight}, strength)
        steered = np.asarray([steer.apply(q.tolist()) for q in queries], dtype=np.float32)
        scores = steered @ matrix.T
        top = np.argsort(-scores, axis=1)[:, :10]
        run = {qid: {ids[j]: float(scores[i, j]) for j in top[i]} for i, qid in enumerate(claims)}
        evaluator = pytrec_eval.RelevanceEvaluator({q: judged[q] for q in claims}, {"ndcg_cut.10"})
        ndcg = statistics.fmean(r["ndcg_cut_10"] for r in evaluator.evaluate(run).values())
        shown = [kinds[ids[j]] for row in top for j in row]
        rows.append(
            {
                "weight": weight,
                "clinical_share": shown.count("clinical") / len(shown),
                "laboratory_share": shown.count("laboratory") / len(shown),
                "ndcg_at_10": ndcg,
                "rankings_changed": int((top != plain_top).any(axis=1).sum()),
            }
        )
    vector = queries[0].tolist()
    timings = []
    for _ in range(5000):
        started = time.perf_counter()
        steering(dial, {"clinical": 0.5}, strength).apply(vector)
        timings.append(time.perf_counter() - started)
    held_right = float(((held_pos - held_neg) @ learned > 0).mean())
    cross_validated = held_out_accuracy(train_pos, train_neg)
    return {
        "documents": len(corpus),
        "clinical_documents": len(clinical),
        "laboratory_documents": len(laboratory),
        "claims": len(claims),
        "strength": strength,
        "train_pairs": len(train),
        "held_out_pairs": len(held),
        "held_out_accuracy": held_right,
        "cross_validated_accuracy": cross_validated[1],
        "steering_cost_ms_median": statistics.median(timings) * 1000,
        "weights": rows,
    }


def markdown(report: dict) -> str:
    lines = [
        "# Dials on held-out SciFact data",
        "",
        f"A `clinical` dial learned from {report['train_pairs']} pairs of abstracts (patients against mice and cells), "
        f"none of them in the {report['documents']} abstracts searched ({report['clinical_documents']} clinical, "
        f"{report['laboratory_documents']} laboratory by their wording); {report['claims']} SciFact test claims, "
        f"dense top 10, strength {report['strength']}.",
        "",
        f"- Held-out pairs ordered the right way: **{report['held_out_accuracy']:.1%}** of {report['held_out_pairs']} "
        f"(5-fold on the training pairs: {report['cross_validated_accuracy']:.1%}).",
        f"- Steering cost per query (resolve the dial, move and renormalize the vector): "
        f"**{report['steering_cost_ms_median'] * 1000:.1f} µs** median.",
        "",
        "| weight | clinical in top 10 | laboratory in top 10 | nDCG@10 | rankings changed |",
        "|---|---|---|---|---|",
    ]
    for row in report["weights"]:
        lines.append(
            f"| {row['weight']:+.1f} | {row['clinical_share']:.1%} | {row['laboratory_share']:.1%} | "
            f"{row['ndcg_at_10']:.4f} | {row['rankings_changed']} of {report['claims']} |"
        )
    lines += ["", "Reproduce: `python -m eval.dials`.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=2000, help="Abstracts searched (every judged one included).")
    parser.add_argument("--strength", type=float, default=0.5, help="The gateway's dial_strength.")
    args = parser.parse_args()
    if not scifact.available():
        raise SystemExit(f"SciFact is not at {scifact.data_dir()} (set RAGMESH_SCIFACT_DIR)")
    publish("dials", asyncio.run(run(args.documents, args.strength)), markdown, console)


if __name__ == "__main__":
    main()
