"""What every benchmark shares: percentiles, and where its figures are written."""

import json
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank `q` quantile (0 to 1) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def save(name: str, figures: dict) -> Path:
    """Write `figures` to bench/results/<name>-<UTC time>.json; the path written."""
    out = RESULTS / f"{name}-{datetime.now(UTC):%Y-%m-%dT%H%M%S%z}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    return out
