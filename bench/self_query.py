"""What a tenant's metadata schema costs each question: the self-query parser on the largest schema a tenant may
declare (32 fields of 1,000 values each) against the evaluation's schema (7 fields, a few dozen values), same run.

    python -m bench.self_query [--rounds 20]
"""

import argparse
import json
import random
import statistics
import time
from pathlib import Path

from services.gateway.self_query import SchemaField, SelfQueryParser

QUESTIONS = [
    "papers from 2019 about Alpha Beta 17 and gamma",
    "what do studies by Kappa say about sigma?",
    "how does the omega rate compare since 2015",
    "Papers from 2019 tagged oncology by Smith",
]
WORDS = ["alpha", "beta", "gamma", "delta", "kappa", "sigma", "omega", "theta", "lambda", "zeta", "rho", "tau"]


def largest_schema() -> list[SchemaField]:
    rng = random.Random(3)
    fields = [
        SchemaField(
            name=f"field_{f}",
            type="keywords" if f % 2 else "keyword",
            operators=("any_of", "none_of"),
            values=tuple(f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {i}" for i in range(1000)),
        )
        for f in range(31)
    ]
    return [*fields, SchemaField(name="year", type="year", operators=("gte", "lte"))]


def evaluation_schema() -> list[SchemaField]:
    declared = json.loads((Path(__file__).parents[1] / "eval" / "self_query" / "schema.json").read_text())
    return [
        SchemaField(
            name=f["name"],
            type=f["type"],
            operators=("gte", "lte") if f["type"] in ("year", "integer", "number") else ("any_of", "none_of"),
            aliases=tuple(a.lower() for a in f.get("aliases", [])),
            values=tuple(f.get("values", [])),
        )
        for f in declared["fields"]
    ]


def timed(fields: list[SchemaField], rounds: int) -> dict[str, float]:
    parser = SelfQueryParser()
    first = time.perf_counter()
    parser.parse(QUESTIONS[0], fields)  # builds the schema's indexes once, as the first question of a version does
    first_ms = (time.perf_counter() - first) * 1000
    samples = []
    for _ in range(rounds):
        for question in QUESTIONS:
            started = time.perf_counter()
            parser.parse(question, fields)
            samples.append((time.perf_counter() - started) * 1000)
    ordered = sorted(samples)
    return {
        "first_question_ms": round(first_ms, 2),
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    small, large = timed(evaluation_schema(), rounds), timed(largest_schema(), rounds)
    print(f"evaluation schema (7 fields):          {small}")
    print(f"largest schema (32 x 1,000 values):    {large}")
    print(f"ratio of p50s: {large['p50_ms'] / small['p50_ms']:.1f}x")
