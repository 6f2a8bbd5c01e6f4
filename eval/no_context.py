"""No-context detection on SciFact: each claim asked with its evidence abstracts in the index and with them
excluded (a none_of filter on document_id: the retriever sees the index without them). The best passage's
cosine similarity decides; the threshold is calibrated on train claims and reported on test claims."""

import httpx

from eval import scifact


async def top_similarities(client: httpx.AsyncClient, split: str, limit: int | None) -> list[tuple[float, bool]]:
    """(best similarity, evidence present) for each claim, twice: evidence in, evidence excluded."""
    qrels = scifact.qrels(split)
    claims = scifact.queries()
    pairs = []
    for query_id in sorted(qrels, key=int)[:limit]:
        evidence = sorted(qrels[query_id])
        for present in (True, False):
            body = {"query": claims[query_id], "top_k": 5, "mode": "hybrid"}
            if not present:
                body["filters"] = {"document_id": {"none_of": evidence}}
            reply = await client.post("/v1/search", json=body)
            reply.raise_for_status()
            hits = reply.json()["hits"]
            pairs.append((max((h["similarity"] for h in hits), default=0.0), present))
    return pairs


def detection(pairs: list[tuple[float, bool]], threshold: float) -> dict[str, float]:
    """Precision and recall of no_context (similarity under the threshold) against 'evidence absent'."""
    flagged = [(similarity < threshold, present) for similarity, present in pairs]
    true_positive = sum(1 for flag, present in flagged if flag and not present)
    predicted = sum(1 for flag, _ in flagged if flag)
    actual = sum(1 for _, present in flagged if not present)
    precision = true_positive / predicted if predicted else 1.0
    recall = true_positive / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "threshold": round(threshold, 3),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


def calibrate(pairs: list[tuple[float, bool]], min_precision: float = 0.8) -> dict[str, float]:
    """The threshold with the best recall at the required precision (else the best F1)."""
    candidates = [detection(pairs, t / 100) for t in range(10, 91)]
    precise = [c for c in candidates if c["precision"] >= min_precision and c["recall"] > 0]
    return max(precise, key=lambda c: c["recall"]) if precise else max(candidates, key=lambda c: c["f1"])
