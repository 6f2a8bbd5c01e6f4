"""deploy/monitoring: the alert rules pass their promtool unit tests, and every dashboard panel and every rule
asks only for metrics the suite really exports."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

# Importing each service's modules registers every metric it exports in this process's registry.
import services.embedder.cache
import services.embedder.model
import services.gateway.app
import services.generator.servicer
import services.ingest.pipeline  # noqa: F401

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
# Words of PromQL that are not metric names: functions, aggregations, keywords.
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "rate", "increase", "delta", "histogram_quantile", "clamp_min", "by",
    "without", "on", "ignoring", "and", "or", "unless", "bool", "le", "inf", "nan", "offset", "abs", "time",
}  # fmt: skip
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported() -> set[str]:
    """Every series name the suite's services can export (a labelled metric has no samples until first used)."""
    names = set()
    for family in REGISTRY.collect():
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        names |= {sample.name for sample in family.samples}
    return names


def metrics_in(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    expr = re.sub(r'"[^"]*"', "", expr)  # label values
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)  # matchers, ranges
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))
    return {n for n in names if n.lower() not in PROMQL_WORDS and not re.fullmatch(r"\d.*", n)}


def rules() -> list[dict]:
    groups = yaml.safe_load((MONITORING / "alerts.yaml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def panels() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted((MONITORING / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            found += [(path.name, panel["title"], target["expr"]) for target in panel["targets"]]
    return found


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus package) is not installed")
def test_the_alert_rules_are_valid_and_pass_their_unit_tests():
    checked = subprocess.run(["promtool", "check", "rules", "alerts.yaml"], cwd=MONITORING, capture_output=True)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    tested = subprocess.run(["promtool", "test", "rules", "alerts.test.yaml"], cwd=MONITORING, capture_output=True)
    assert tested.returncode == 0, tested.stdout.decode() + tested.stderr.decode()


def test_every_rule_is_tested_and_carries_a_runbook_and_a_severity():
    tests = yaml.safe_load((MONITORING / "alerts.test.yaml").read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    names = {rule["alert"] for rule in rules()}
    assert names == fired, names ^ fired
    for rule in rules():
        assert rule["annotations"]["runbook"] and rule["labels"]["severity"] in ("page", "warning"), rule["alert"]


def test_dashboards_and_rules_read_only_metrics_the_suite_exports():
    known = exported()
    expressions = [(f"alerts.yaml {rule['alert']}", rule["expr"]) for rule in rules()]
    expressions += [(f"{board} {title}", expr) for board, title, expr in panels()]
    for where, expr in expressions:
        unknown = metrics_in(expr) - known
        assert not unknown, f"{where} reads {unknown}, which no service exports"
    # The parser sees what it should: a rule's metrics are found (the check above is not vacuous).
    assert metrics_in(rules()[0]["expr"]) == {"assistant_errors_total", "assistant_requests_total"}


def test_the_six_dashboards_are_there_with_unique_ids_and_a_datasource_choice():
    boards = {path.stem: json.loads(path.read_text()) for path in (MONITORING / "dashboards").glob("*.json")}
    assert set(boards) == {"overview", "latency", "quality", "cost", "caches", "ingest"}
    assert len({board["uid"] for board in boards.values()}) == 6
    for board in boards.values():
        assert [v["name"] for v in board["templating"]["list"]] == ["datasource"]
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)) and board["panels"]
