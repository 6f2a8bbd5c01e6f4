"""Prompt-injection flagging at ingest (services/ingest/injection.py), measured on labelled documents written for it:
injections aimed at the assistant that reads them, and ordinary documents, many of which discuss prompts,
instructions, assistants or injection itself.

Three sets (eval/injection/): `labelled.json` (development: written and tuned on), `held_out.json` (measured once
before it was used for tuning; its first figures are in its description), `held_out_2.json` (written after the
last change, never tuned on: the figures to quote). Reported per set: catch rate (injections flagged) and
false-flag rate (ordinary documents flagged), with the misses.

    python -m eval.injection
Report: printed, and eval/results/injection.{json,md}.
"""

import json
from pathlib import Path

from rich.console import Console

from eval.reports import publish
from services.ingest.injection import inspect

SETS = Path(__file__).parent / "injection"
NAMES = ["labelled.json", "held_out.json", "held_out_2.json"]
console = Console()


def measure(name: str) -> dict:
    items = json.loads((SETS / name).read_text())["items"]
    injections = [item["text"] for item in items if item["label"] == "injection"]
    ordinary = [item["text"] for item in items if item["label"] == "benign"]
    missed = [text for text in injections if not inspect(text).flagged]
    flagged = [text for text in ordinary if inspect(text).flagged]
    return {
        "set": name,
        "injections": len(injections),
        "ordinary": len(ordinary),
        "catch_rate": round(1 - len(missed) / len(injections), 3),
        "false_flag_rate": round(len(flagged) / len(ordinary), 3),
        "missed": [text[:100] for text in missed],
        "falsely_flagged": [text[:100] for text in flagged],
    }


def markdown(report: dict) -> str:
    lines = [
        "# Prompt-injection flagging at ingest",
        "",
        "| set | injections | ordinary | catch rate | false-flag rate |",
    ]
    lines.append("|---|---|---|---|---|")
    for r in report["sets"]:
        lines.append(
            f"| {r['set']} | {r['injections']} | {r['ordinary']} | {r['catch_rate']:.1%} | {r['false_flag_rate']:.1%} |"
        )
    for r in report["sets"]:
        lines += [f"- {r['set']} missed: {text}" for text in r["missed"]]
        lines += [f"- {r['set']} flagged: {text}" for text in r["falsely_flagged"]]
    return "\n".join(lines) + "\n"


def main() -> dict:
    report = {"sets": [measure(name) for name in NAMES]}
    publish("injection", report, markdown, console)
    return report


if __name__ == "__main__":
    main()
