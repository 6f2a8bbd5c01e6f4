"""Questions about the collection: how often the rule parser reads the plan a labelled question asks for, on the
set it was written against (eval/collection/questions.jsonl, 36 questions: 26 about the collection, 10 about the
documents' contents) and on a set written afterwards (held_out.jsonl, 12), over the declared fields of
eval/collection/schema.json. A plan is right only when it is exactly the labelled one (groups, filters, dates,
order, limit); a content question is right only when no plan is read (a plan there would answer with a count
instead of the documents' words).

    python -m eval.collection_questions
Writes eval/results/collection-questions.json and .md. That no invalid plan runs is tested against the real
services (tests/gateway/test_collection_api.py): the gateway and the ingest service each refuse all 12 kinds.
"""

import json
from datetime import date
from pathlib import Path

from rich.console import Console

from eval.reports import publish
from services.gateway.collection.parser import CollectionQuestionParser
from services.gateway.self_query import SchemaField
from services.runtime.collection_plans import CollectionPlan

HERE = Path(__file__).resolve().parent / "collection"
_OPERATORS = {"keyword": ("any_of", "none_of"), "keywords": ("any_of", "none_of")}


def fields_and_day() -> tuple[list[SchemaField], date]:
    schema = json.loads((HERE / "schema.json").read_text())
    fields = [
        SchemaField(
            name=f["name"],
            type=f["type"],
            operators=_OPERATORS.get(f["type"], ("gte", "lte")),
            aliases=tuple(f.get("aliases", [])),
            values=tuple(f.get("values", [])),
        )
        for f in schema["fields"]
    ]
    return fields, date.fromisoformat(schema["today"])


def score(name: str) -> dict:
    fields, today = fields_and_day()
    parser = CollectionQuestionParser(today)
    rows = [json.loads(line) for line in (HERE / name).read_text().splitlines() if line.strip()]
    wrong, false_plans, missed = [], 0, 0
    for row in rows:
        got = parser.plan(row["question"], fields)
        want = None if row["plan"] is None else CollectionPlan.model_validate(row["plan"])
        if got != want:
            wrong.append(
                {"question": row["question"], "got": got and got.model_dump(mode="json", exclude_defaults=True)}
            )
            false_plans += want is None
            missed += want is not None and got is None
    collection = sum(1 for row in rows if row["plan"] is not None)
    return {
        "questions": len(rows),
        "collection_questions": collection,
        "content_questions": len(rows) - collection,
        "plans_fully_right": len(rows) - len(wrong),
        "content_questions_given_a_plan": false_plans,
        "collection_questions_not_recognised": missed,
        "wrong": wrong,
    }


def markdown(report: dict) -> str:
    lines = [
        "# Collection questions (rule parser)",
        "",
        "| set | questions | fully right | plans on content questions | not recognised |",
        "|---|---|---|---|---|",
    ]
    for name, r in report.items():
        lines.append(
            f"| {name} | {r['questions']} | {r['plans_fully_right']} ({r['plans_fully_right'] / r['questions']:.0%}) "
            f"| {r['content_questions_given_a_plan']} of {r['content_questions']} "
            f"| {r['collection_questions_not_recognised']} of {r['collection_questions']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    publish(
        "collection-questions",
        {"written against": score("questions.jsonl"), "held out": score("held_out.jsonl")},
        markdown,
        Console(),
    )
