"""Load tests with locust against the real suite on loopback (bench/locustfile.py holds the users and the
scenarios): steady (1,000 requests a minute for 10 minutes), spike (5,000 a minute for 2 minutes), stress (users
added until more than 1% of requests fail) and a short soak, each bounded in time. Reported per scenario:
throughput, p50/p95/p99, error rate, each service's CPU (share of one core) and peak memory, and the service that
saturates first (the busiest).

    python -m bench.load [--scenarios steady,spike,stress,soak] [--scale 1.0] [--documents 300]
--scale shortens every duration (0.2: a fifth). Results: printed, and bench/results/load-<UTC time>.json.
"""

import argparse
import asyncio
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
from rich.table import Table

from bench.figures import save
from bench.latency import console
from bench.probes import probes
from bench.run import ADMIN, TENANT, UNLIMITED, ingest_probes, stored_key
from ragmesh.suite import BackgroundSuite

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


class Sampler:
    """Each service's CPU (share of one core, averaged) and peak resident memory while a scenario runs."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._cpu: dict[str, list[float]] = {name: [] for name in pids}
        self._rss: dict[str, int] = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree(self, process: psutil.Process) -> list[psutil.Process]:
        return [process, *process.children(recursive=True)]

    def _run(self) -> None:
        for process in self._processes.values():
            for member in self._tree(process):
                member.cpu_percent(None)
        while not self._stop.wait(1.0):
            for name, process in self._processes.items():
                try:
                    tree = self._tree(process)
                    self._cpu[name].append(sum(p.cpu_percent(None) for p in tree))
                    self._rss[name] = max(self._rss[name], sum(p.memory_info().rss for p in tree))
                except psutil.Error:
                    continue

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def figures(self) -> dict[str, dict[str, float]]:
        return {
            name: {
                "cpu_core_share": round(sum(values) / len(values) / 100, 2) if values else 0.0,
                "peak_rss_mb": round(self._rss[name] / 2**20, 1),
            }
            for name, values in self._cpu.items()
        }


def run_scenario(name: str, url: str, env: dict[str, str], pids: dict[str, int], folder: Path) -> dict:
    prefix = folder / name
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", url]
    command += ["--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"]
    started = time.monotonic()
    with console.status(f"load: {name}…"), Sampler(pids) as sampler:
        subprocess.run(command, env={**os.environ, **env, "RAGMESH_LOAD_SCENARIO": name}, check=False)
    rows = {row["Name"]: row for row in csv.DictReader(open(f"{prefix}_stats.csv"))}  # noqa: SIM115
    total = rows["Aggregated"]
    requests, failures = int(total["Request Count"]), int(total["Failure Count"])
    services = sampler.figures()
    return {
        "seconds": round(time.monotonic() - started, 1),
        "requests": requests,
        "per_s": round(float(total["Requests/s"]), 1),
        "p50_ms": float(total["50%"]),
        "p95_ms": float(total["95%"]),
        "p99_ms": float(total["99%"]),
        "error_rate": round(failures / requests, 4) if requests else 0.0,
        "by_kind": {
            n: {"requests": int(r["Request Count"]), "p50_ms": float(r["50%"]), "p95_ms": float(r["95%"])}
            for n, r in rows.items()
            if n != "Aggregated"
        },
        "services": services,
        "busiest": max(services, key=lambda s: services[s]["cpu_core_share"]),
    }


async def prepare(suite: BackgroundSuite, documents: int) -> tuple[str, list[str]]:
    async with httpx.AsyncClient(base_url=suite.url, headers={"X-API-Key": ADMIN}, timeout=300) as admin:
        key = await stored_key(admin)
    async with httpx.AsyncClient(base_url=suite.url, headers={"X-API-Key": key}, timeout=300) as client:
        items = probes(documents)
        await ingest_probes(client, items)
    return key, [question for item in items for question in item.questions]


def main(args: argparse.Namespace) -> dict:
    results: dict = {"scale": args.scale, "documents": args.documents, "cpus": os.cpu_count(), "scenarios": {}}
    env = {
        "RAGMESH_GATEWAY_RATE_LIMITS": json.dumps({b: UNLIMITED for b in ("answer", "search", "ingest")}),
        # One tenant carries the whole load here: its in-flight cap would refuse what the suite could serve.
        "RAGMESH_GATEWAY_TENANT_MAX_IN_FLIGHT": "0",
    }
    with tempfile.TemporaryDirectory(prefix="ragmesh-load-") as data_dir:
        suite = BackgroundSuite(Path(data_dir), {ADMIN: TENANT}, env)
        try:
            suite.wait_up(console)
            key, questions = asyncio.run(prepare(suite, args.documents))
            (Path(data_dir) / "questions.json").write_text(json.dumps(questions))
            pids = json.loads((Path(data_dir) / "logs" / "children.json").read_text())
            load_env = {
                "RAGMESH_LOAD_KEY": key,
                "RAGMESH_LOAD_QUESTIONS": str(Path(data_dir) / "questions.json"),
                "RAGMESH_LOAD_SCALE": str(args.scale),
            }
            for name in args.scenarios.split(","):
                results["scenarios"][name] = run_scenario(name, suite.url, load_env, pids, Path(data_dir))
        finally:
            suite.stop()
    return results


def report(results: dict) -> None:
    table = Table(title=f"ragmesh under load (locust, loopback, {results['cpus']} cores, scale {results['scale']})")
    for column in ("scenario", "seconds", "requests/s", "p50 ms", "p95 ms", "p99 ms", "errors", "busiest (cores)"):
        table.add_column(column)
    for name, s in results["scenarios"].items():
        busiest = s["busiest"]
        table.add_row(
            name,
            str(s["seconds"]),
            str(s["per_s"]),
            str(s["p50_ms"]),
            str(s["p95_ms"]),
            str(s["p99_ms"]),
            f"{s['error_rate']:.2%}",
            f"{busiest} ({s['services'][busiest]['cpu_core_share']})",
        )
    console.print(table)
    for name, s in results["scenarios"].items():
        usage = ", ".join(f"{k} {v['cpu_core_share']} cores / {v['peak_rss_mb']} MB" for k, v in s["services"].items())
        console.print(f"{name}: {usage}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="steady,spike,stress,soak")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--documents", type=int, default=300)
    outcome = main(parser.parse_args())
    report(outcome)
    console.print(f"written to {save('load', outcome)}")
