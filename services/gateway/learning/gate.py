"""The regression gate: nothing trained is served unless, on every evaluation set, its nDCG@10 is at most
`max_drop` (2%, relative) below what is served now. nDCG@10 with binary relevance is written here (five lines)
rather than bringing trec_eval into the gateway; tests check it against pytrec-eval."""

import math
from dataclasses import dataclass


def ndcg_at_10(ranked: list[str], relevant: set[str]) -> float:
    """nDCG@10 of one ranking (distinct ids, best first) against the set of relevant ids."""
    gain = sum(1 / math.log2(rank + 2) for rank, item in enumerate(ranked[:10]) if item in relevant)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(len(relevant), 10)))
    return gain / ideal if ideal else 0.0


@dataclass(frozen=True)
class Decision:
    passed: bool
    # Per evaluation set: (served now, candidate).
    scores: dict[str, tuple[float, float]]
    reasons: list[str]


def decide(scores: dict[str, tuple[float, float]], max_drop: float = 0.02) -> Decision:
    """Pass when no set's candidate score is more than `max_drop` below the served one (relative)."""
    reasons = [
        f"{name}: nDCG@10 {candidate:.4f} against {served:.4f} served ({(candidate - served) / served:+.1%})"
        for name, (served, candidate) in sorted(scores.items())
        if served > 0 and candidate < served * (1 - max_drop)
    ]
    return Decision(not reasons, scores, reasons)
