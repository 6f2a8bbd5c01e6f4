"""Learned steering on held-out SciFact data (issue 16).

Dials: a "clinical" dial learned from 40 contrastive pairs of abstracts (studies of patients against studies of mice
and cells, told apart by their wording), then every test claim searched densely over the abstracts with the dial at
each weight. Reported: how the share of clinical and laboratory abstracts in the top 10 moves with the weight,
nDCG@10 at each weight (the claims' own judgements), the dial's accuracy on 400 held-out pairs, that weight 0 changes
no ranking, and what steering costs per query.

Per-user vectors: simulated users who prefer clinical (or laboratory) studies ask SciFact train claims, see their
top 5 (already leaning as they learn) and mark the studies of their kind relevant and the others not; after N such
feedback events, the test claims are searched for them. Reported: the share of their kind in their top 10 and their
nDCG@10 after N events, against a user who gave no feedback (whose results never change).

In process, with the embedder the suite runs (RAGMESH_EMBEDDER_RUNTIME, onnx-int8 by default) and the gateway's own
steering code (services/gateway/learning/steering.py); dense search is a matrix product over the abstracts.

    python -m eval.steering [--documents 2000] [--strength 0.5] [--user-weight 0.2]
Writes eval/results/steering.json and .md.
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
from services.gateway.learning.preferences import leaning
from services.gateway.learning.steering import UNSTEERED, Dial, direction, held_out_accuracy, steering

console = Console()
CLINICAL = re.compile(r"\b(patients?|clinical|trials?|cohort|participants|randomi[sz]ed|hospital)\b", re.I)
LABORATORY = re.compile(r"\b(mice|mouse|murine|rats?|in vitro|cell lines?|knockout|zebrafish)\b", re.I)
WEIGHTS = [-1.0, -0.5, 0.0, 0.5, 1.0]
EVENTS = [0, 1, 3, 5, 10, 20]


def kind(abstract: scifact.Abstract) -> str:
    text = f"{abstract.title} {abstract.text}"
    clinical, laboratory = bool(CLINICAL.search(text)), bool(LABORATORY.search(text))
    return "clinical" if clinical and not laboratory else "laboratory" if laboratory and not clinical else ""


async def embed(model: LocalEmbedder, texts: list[str], is_query: bool) -> np.ndarray:
    rows = [await model.embed(texts[i : i + 64], is_query=is_query) for i in range(0, len(texts), 64)]
    return np.vstack(rows).astype(np.float32)


def scored(queries: np.ndarray, matrix: np.ndarray, ids: list[str], claims: dict, judged: dict, steer) -> tuple:
    """(top-10 indices per claim, nDCG@10) of dense search with `steer` applied to every query vector."""
    steered = np.asarray([steer.apply(q.tolist()) for q in queries], dtype=np.float32)
    scores = steered @ matrix.T
    top = np.argsort(-scores, axis=1)[:, :10]
    run = {qid: {ids[j]: float(scores[i, j]) for j in top[i]} for i, qid in enumerate(claims)}
    evaluator = pytrec_eval.RelevanceEvaluator({q: judged[q] for q in claims}, {"ndcg_cut.10"})
    return top, statistics.fmean(r["ndcg_cut_10"] for r in evaluator.evaluate(run).values())


def simulated_user(
    prefers: str, asks: np.ndarray, matrix: np.ndarray, kinds: list[str], weight: float, events: int
) -> np.ndarray | None:
    """The vector a user who likes `prefers` studies ends with after `events` feedback events on their top 5."""
    liked_sum, disliked_sum = np.zeros(matrix.shape[1], np.float32), np.zeros(matrix.shape[1], np.float32)
    liked = disliked = 0
    mine = None
    for query in asks[:events]:
        steer = steering({}, {}, 0.0, (mine, "sim"), weight) if mine is not None else UNSTEERED
        for j in np.argsort(-(np.asarray(steer.apply(query.tolist())) @ matrix.T))[:5]:
            if kinds[j] == prefers:
                liked_sum, liked = liked_sum + matrix[j], liked + 1
            elif kinds[j]:
                disliked_sum, disliked = disliked_sum + matrix[j], disliked + 1
        mine = leaning(liked_sum, disliked_sum, liked, disliked) if liked + disliked >= 3 else None
    return mine


async def run(documents: int, strength: float, user_weight: float) -> dict:
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
        train_claims = list(scifact.queries()[qid] for qid in scifact.qrels("train"))
        rng.shuffle(train_claims)
        asks = await embed(model, train_claims[: max(EVENTS)], is_query=True)
    finally:
        await model.close()

    learned = direction(train_pos, train_neg)
    dial = {"clinical": Dial("clinical", "eval", learned)}
    ids = [a.id for a in corpus]
    rows = []
    plain_top, plain_ndcg = scored(queries, matrix, ids, claims, judged, UNSTEERED)
    for weight in WEIGHTS:
        top, ndcg = scored(queries, matrix, ids, claims, judged, steering(dial, {"clinical": weight}, strength))
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
    users = []
    kind_list = [kinds[i] for i in ids]
    for prefers in ("clinical", "laboratory"):
        for events in EVENTS:
            mine = simulated_user(prefers, asks, matrix, kind_list, user_weight, events)
            steer = steering({}, {}, 0.0, (mine, "sim"), user_weight) if mine is not None else UNSTEERED
            top, ndcg = scored(queries, matrix, ids, claims, judged, steer)
            shown = [kinds[ids[j]] for row in top for j in row]
            users.append(
                {"prefers": prefers, "events": events, "share": shown.count(prefers) / len(shown), "ndcg_at_10": ndcg}
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
        "user_weight": user_weight,
        "plain_ndcg_at_10": plain_ndcg,
        "users": users,
    }


def markdown(report: dict) -> str:
    lines = [
        "# Learned steering on held-out SciFact data",
        "",
        "## Dials",
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
    lines += [
        "",
        f"## Per-user vectors (weight {report['user_weight']})",
        "",
        "Simulated users mark the studies of their kind in their top 5 relevant and the others not, one train claim "
        f"per event; then the test claims are searched for them. A user without feedback: nDCG@10 "
        f"{report['plain_ndcg_at_10']:.4f}, unchanged whatever others do.",
        "",
        "| user prefers | feedback events | their kind in top 10 | their nDCG@10 |",
        "|---|---|---|---|",
    ]
    for row in report["users"]:
        lines.append(f"| {row['prefers']} | {row['events']} | {row['share']:.1%} | {row['ndcg_at_10']:.4f} |")
    lines += ["", "Reproduce: `python -m eval.steering`.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=2000, help="Abstracts searched (every judged one included).")
    parser.add_argument("--strength", type=float, default=0.5, help="The gateway's dial_strength.")
    parser.add_argument("--user-weight", type=float, default=0.2, help="The gateway's user_vector_weight.")
    args = parser.parse_args()
    if not scifact.available():
        raise SystemExit(f"SciFact is not at {scifact.data_dir()} (set RAGMESH_SCIFACT_DIR)")
    publish("steering", asyncio.run(run(args.documents, args.strength, args.user_weight)), markdown, console)


if __name__ == "__main__":
    main()
