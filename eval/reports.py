"""What every evaluation shares: its command line over the SciFact suite's data, and its report written to
eval/results/ as JSON (for tools) and Markdown (for people), then shown."""

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

RESULTS = Path(__file__).resolve().parent / "results"
SCIFACT_DATA = Path(".ragmesh/eval-scifact")


def command_line(description: str, limit_help: str, limit: int | None = 300) -> argparse.ArgumentParser:
    """--data-dir (the SciFact suite's data, indexed by eval/retrieval.py) and --limit; add your own."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=SCIFACT_DATA, help="The SciFact suite's data.")
    parser.add_argument("--limit", type=int, default=limit, help=limit_help)
    return parser


def publish(name: str, report: dict, markdown: Callable[[dict], str], console: Console) -> None:
    """eval/results/<name>.json and .md."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(report))
    console.print(markdown(report))
