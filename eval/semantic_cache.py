"""The semantic cache's threshold, chosen on labelled pairs and reported on pairs it never saw.

eval/semantic_cache/paraphrases.tsv: 100 pairs of questions that mean the same (a hit would be right);
eval/semantic_cache/lookalikes.tsv: 100 pairs that look alike but ask something else (another place, day, sign,
action: a hit would serve a wrong answer). Each pair is scored with the cosine similarity of the embedder's own
vectors (the packaged all-MiniLM-L6-v2, as the gateway sees them). Pairs with an even line number tune, odd ones
test: the threshold is the lowest (on a 0.005 grid) that keeps false hits under 1% on the tuning half; the hit
rate on paraphrases and the false-hit rate on look-alikes are reported on the test half. Goal: >= 20% of
paraphrases served, < 1% false hits.

    python -m eval.semantic_cache
"""

import asyncio
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rich.console import Console

from eval.reports import publish
from services.embedder.config import EmbedderSettings
from services.embedder.model import LocalEmbedder
from services.gateway.config import GatewaySettings

HERE = Path(__file__).parent / "semantic_cache"
console = Console()


def pairs(name: str) -> list[tuple[str, str]]:
    rows = (HERE / name).read_text().splitlines()
    return [tuple(row.split("\t")) for row in rows if row.strip()]  # type: ignore[misc]


async def similarities(labelled: list[tuple[str, str]]) -> np.ndarray:
    embedder = LocalEmbedder(EmbedderSettings())
    await embedder.warm_up()
    left = await embedder.embed([a for a, _ in labelled], is_query=True)
    right = await embedder.embed([b for _, b in labelled], is_query=True)
    await embedder.close()
    return np.sum(left * right, axis=1)


def rates(threshold: float, paraphrases: np.ndarray, lookalikes: np.ndarray) -> dict[str, float]:
    return {
        "paraphrases_served": round(float(np.mean(paraphrases >= threshold)), 4),
        "false_hits": round(float(np.mean(lookalikes >= threshold)), 4),
    }


def choose(paraphrases: np.ndarray, lookalikes: np.ndarray) -> float:
    """The lowest threshold on a 0.005 grid whose false-hit rate stays under 1%."""
    for step in range(100, 201):
        threshold = step * 0.005
        if np.mean(lookalikes >= threshold) < 0.01:
            return round(threshold, 3)
    return 1.0


async def evaluate() -> dict:
    paraphrase_pairs, lookalike_pairs = pairs("paraphrases.tsv"), pairs("lookalikes.tsv")
    scores = await similarities(paraphrase_pairs + lookalike_pairs)
    para, look = scores[: len(paraphrase_pairs)], scores[len(paraphrase_pairs) :]
    tune, test = slice(0, None, 2), slice(1, None, 2)
    threshold = choose(para[tune], look[tune])
    configured = GatewaySettings.model_fields["semantic_cache_threshold"].default
    closest = sorted(((float(look[i]), *lookalike_pairs[i]) for i in range(len(look))), reverse=True)[:5]
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "pairs": {"paraphrases": len(para), "lookalikes": len(look)},
        "chosen_threshold": threshold,
        "tune": rates(threshold, para[tune], look[tune]),
        "test": rates(threshold, para[test], look[test]),
        "configured_threshold": configured,
        "configured_on_all_pairs": rates(configured, para, look),
        "similarity_medians": {
            "paraphrases": round(float(np.median(para)), 4),
            "lookalikes": round(float(np.median(look)), 4),
        },
        "closest_lookalikes": [{"similarity": round(s, 4), "a": a, "b": b} for s, a, b in closest],
    }


def markdown(report: dict) -> str:
    lines = [
        "# Semantic cache: threshold on labelled pairs",
        "",
        f"{report['pairs']['paraphrases']} paraphrase pairs and {report['pairs']['lookalikes']} look-alike pairs "
        "(eval/semantic_cache/); even lines tune, odd lines test. Cosine of all-MiniLM-L6-v2 query vectors.",
        "",
        "| half | threshold | paraphrases served | false hits |",
        "|---|---|---|---|",
        f"| tune | {report['chosen_threshold']} | {report['tune']['paraphrases_served']:.0%} | "
        f"{report['tune']['false_hits']:.0%} |",
        f"| test | {report['chosen_threshold']} | {report['test']['paraphrases_served']:.0%} | "
        f"{report['test']['false_hits']:.0%} |",
        f"| all, as configured | {report['configured_threshold']} | "
        f"{report['configured_on_all_pairs']['paraphrases_served']:.0%} | "
        f"{report['configured_on_all_pairs']['false_hits']:.0%} |",
        "",
        f"Median similarity: paraphrases {report['similarity_medians']['paraphrases']}, look-alikes "
        f"{report['similarity_medians']['lookalikes']}. The look-alikes closest to a hit:",
        "",
        *(f"- {c['similarity']}: {c['a']} / {c['b']}" for c in report["closest_lookalikes"]),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    result = asyncio.run(evaluate())
    publish("semantic-cache", result, markdown, console)
    assert not math.isnan(result["chosen_threshold"])
