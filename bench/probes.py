"""The benchmark's documents: short made-up facts, each document asked about in five distinct questions (so that
no two timed calls share a cache entry), and how well the answers found their source."""

import random
from dataclasses import dataclass, field

_PLACES = ["Harl", "Orvane", "Tessel", "Marrow", "Skerry", "Kestrel", "Ilsa", "Nightjar", "Brack", "Fenwick"]
_THINGS = [
    "ferry",
    "lighthouse",
    "bakery",
    "observatory",
    "archive",
    "foundry",
    "orchard",
    "reservoir",
    "mill",
    "bridge",
]
_MONTHS = ["January", "March", "May", "July", "September", "November"]


@dataclass
class Probe:
    """A document with five facts in it, a question for each fact, and each answer's key value."""

    filename: str
    body: str
    questions: list[str]
    values: list[str]
    document_id: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def question(self) -> str:
        return self.questions[0]

    @property
    def value(self) -> str:
        return self.values[0]


def probe(i: int, rng: random.Random) -> Probe:
    name = f"the {_PLACES[i % 10]} {_THINGS[(i // 10) % 10]} number {i}"
    year, staff, length = rng.randint(1800, 2020), rng.randint(3, 900), rng.randint(10, 990)
    hour, minute, month = rng.randint(5, 11), rng.randint(0, 59), rng.choice(_MONTHS)
    facts = [
        (f"{name.capitalize()} was built in {year}.", f"When was {name} built?", str(year)),
        (f"{name.capitalize()} employs {staff} people.", f"How many people does {name} employ?", str(staff)),
        (f"{name.capitalize()} is {length} metres long.", f"How long is {name}?", str(length)),
        (f"{name.capitalize()} opens at {hour}:{minute:02d}.", f"When does {name} open?", f"{hour}:{minute:02d}"),
        (f"{name.capitalize()} closes for the winter in {month}.", f"When does {name} close for the winter?", month),
    ]
    rng.shuffle(facts)
    body = f"# {name.capitalize()}\n\n{facts[0][0]} {facts[1][0]}\n\n## Notes\n\n{' '.join(f[0] for f in facts[2:])}\n"
    return Probe(f"doc-{i:04d}.md", body, [f[1] for f in facts], [f[2] for f in facts])


def probes(count: int, seed: int = 7) -> list[Probe]:
    rng = random.Random(seed)
    return [probe(i, rng) for i in range(count)]


def grounding(asked: list[tuple[Probe, int]], bodies: list[dict]) -> dict:
    """How often the top citation is the document holding the fact, the answer states the fact, and the answer's
    words come from a passage it cites (support >= 0.5). `asked`: (probe, which of its questions)."""
    right_document = states_fact = supported = 0
    for (item, which), body in zip(asked, bodies, strict=True):
        citations = body.get("citations", [])
        right_document += bool(citations) and citations[0]["document_id"] == item.document_id
        states_fact += item.values[which].lower() in body.get("answer", "").lower()
        supported += any(c["cited"] and c["support"] >= 0.5 for c in citations)
    n = max(1, len(bodies))
    return {
        "questions": len(bodies),
        "top_citation_is_the_source": round(right_document / n, 3),
        "answer_states_the_fact": round(states_fact / n, 3),
        "answer_supported_by_a_cited_passage": round(supported / n, 3),
    }
