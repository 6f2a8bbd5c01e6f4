"""`ragmesh up --with-prometheus`: a local Prometheus (Debian's `prometheus` package, when installed) scraping every
service's metrics port, with the suite's alert rules (deploy/monitoring/alerts.yaml) loaded."""

import shutil
from typing import TYPE_CHECKING

import httpx
import yaml
from rich.console import Console

from ragmesh.deploy import CHART

if TYPE_CHECKING:
    from ragmesh.suite import SuitePlan
    from ragmesh.supervisor import Supervisor

ALERTS = CHART / "monitoring" / "alerts.yaml"


def config(plan: "SuitePlan") -> dict:
    """Prometheus's configuration: one job per service, every 5 s (a laptop, not a fleet)."""
    return {
        "global": {"scrape_interval": "5s", "evaluation_interval": "15s"},
        "rule_files": [str(ALERTS.resolve())] if ALERTS.exists() else [],
        "scrape_configs": [
            {"job_name": f"ragmesh-{name}", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            for name, port in plan.metrics_ports().items()
        ],
    }


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_prometheus(plan: "SuitePlan", supervisor: "Supervisor", console: Console) -> str:
    """Start Prometheus under the supervisor and wait until it is ready; its URL, or "" when it is not installed."""
    binary = shutil.which("prometheus")
    if binary is None:
        console.print(
            "[yellow]prometheus is not installed[/yellow] (apt-get install prometheus); "
            "the services' metrics ports are there to scrape all the same"
        )
        return ""
    home = (plan.data_dir / "prometheus").resolve()
    home.mkdir(parents=True, exist_ok=True)
    (home / "prometheus.yml").write_text(yaml.safe_dump(config(plan), sort_keys=False))
    url = f"http://127.0.0.1:{plan.prometheus_port}"
    supervisor.spawn(
        "prometheus",
        [
            binary,
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{plan.prometheus_port}",
            "--storage.tsdb.retention.time=7d",
        ],
    )
    supervisor.wait_until("Prometheus", lambda: _ready(url), 60)
    return url
