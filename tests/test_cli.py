"""The `ragmesh` command line against a real gateway, and `ragmesh up` bringing the whole suite up and down."""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from ragmesh.cli import app
from ragmesh.suite import DEV_KEY, SERVICES, SuitePlan, free_port, free_ports, port_problem
from tests.conftest import MOCK_ANSWER
from tests.servers import gateway


async def test_ingest_walks_folders_and_ask_prints_answer_and_citations(suite, tmp_path):
    (tmp_path / "docs" / "deep").mkdir(parents=True)
    (tmp_path / "docs" / "ferry.md").write_text(
        "# Ferry timetable\n\nThe Harl ferry leaves the north pier at 06:15 daily.\n"
    )
    (tmp_path / "docs" / "deep" / "owls.txt").write_text("Snowy owls nest on the Harl moor in late spring.")
    (tmp_path / "docs" / "deep" / "skip.bin").write_bytes(b"\x00\x01")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 nonsense")
    runner = CliRunner()
    async with gateway(suite.gateway_settings(api_keys={"cli-key": "cli-tenant"})) as api:
        common = ["--url", str(api.base_url), "--api-key", "cli-key"]
        result = await asyncio.to_thread(
            runner.invoke, app, ["ingest", str(tmp_path / "docs"), "--tags", "harl", *common]
        )
        assert result.exit_code == 0, result.output
        # Sent as a job and followed to the end: every file's outcome counted.
        assert "2 files: 2 indexed; 2 chunks" in result.output
        # A bad file is reported with its reason and the exit code says so.
        result = await asyncio.to_thread(runner.invoke, app, ["ingest", str(tmp_path / "broken.pdf"), *common])
        assert result.exit_code == 1 and "broken.pdf: quarantined" in result.output, result.output
        assert "could not be read" in result.output
        result = await asyncio.to_thread(runner.invoke, app, ["ask", "When does the Harl ferry leave?", *common])
        assert result.exit_code == 0, result.output
        assert MOCK_ANSWER in result.output and "Ferry timetable" in result.output and "06:15" in result.output
        result = await asyncio.to_thread(runner.invoke, app, ["ask", "hi", "--top-k", "0", "--no-stream", *common])
        assert result.exit_code == 1 and "422" in result.output
        result = await asyncio.to_thread(
            runner.invoke, app, ["ask", "hi", "--url", str(api.base_url), "--api-key", "wrong"]
        )
        assert result.exit_code == 1 and "401" in result.output


async def test_keys_create_list_and_revoke(suite):
    runner = CliRunner()

    async def run(*args: str):
        return await asyncio.to_thread(runner.invoke, app, list(args))

    async with gateway(suite.gateway_settings(api_keys={"cli-admin": "cli-keys"})) as api:
        common = ["--url", str(api.base_url), "--api-key", "cli-admin"]
        created = await run(
            "keys", "create", "nightly-ingest", "--scopes", "query,ingest", "--expires-in-days", "7", *common
        )
        assert created.exit_code == 0, created.output
        key = created.output.strip().splitlines()[-1]
        assert key.startswith("rmk_") and "query, ingest" in created.output
        assert (await api.get("/v1/documents", headers={"X-API-Key": key})).status_code == 200
        listed = await run("keys", "list", *common)
        key_id = created.output.split()[1]
        assert listed.exit_code == 0 and key_id in listed.output and "nightly-ingest" in listed.output
        assert key not in listed.output and "expires" in listed.output
        revoked = await run("keys", "revoke", key_id, *common)
        assert revoked.exit_code == 0 and "revoked" in revoked.output
        assert (await api.get("/v1/documents", headers={"X-API-Key": key})).status_code == 401
        assert key_id not in (await run("keys", "list", *common)).output
        assert key_id in (await run("keys", "list", "--all", *common)).output
        # A key without the admin scope cannot manage keys; the reason is printed.
        reader = (await run("keys", "create", "reader", "--tier", "free", *common)).output.strip().splitlines()[-1]
        assert "tier free" in (await run("keys", "list", *common)).output
        used = await run("usage", "--url", str(api.base_url), "--api-key", reader)
        assert used.exit_code == 0 and "0 requests" in used.output, used.output
        assert (
            "budget (caller): $5.0000 of $5.00 left today" in used.output and "answer (caller): 10 left" in used.output
        )
        refused = await run("keys", "list", "--url", str(api.base_url), "--api-key", reader)
        assert refused.exit_code == 1 and "403" in refused.output and "admin" in refused.output


class _Up:
    """`ragmesh up` in a child process on free ports, its output collected."""

    def __init__(self, data_dir, redis_url: str, with_prometheus: bool = False) -> None:
        names = (*SERVICES, "llm", *(f"{service}_metrics" for service in SERVICES))
        wanted = (*names, *(["prometheus"] if with_prometheus else []))
        self.ports = dict(zip(wanted, free_ports(len(wanted)), strict=True))
        self.data_dir = data_dir
        redis_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
        script = (
            "from pathlib import Path; from ragmesh.suite import SuitePlan, up; "
            f"raise SystemExit(up(SuitePlan(data_dir=Path({str(data_dir)!r}), redis_port={redis_port}, "
            + ", ".join(f"{name}_port={port}" for name, port in self.ports.items())
            + f", with_prometheus={with_prometheus})))"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200"},
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(
            target=lambda: self.lines.extend(line.decode() for line in self.process.stdout), daemon=True
        )
        self.reader.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert self.process.poll() is None, self.output
            assert time.monotonic() < deadline, f"no {text!r} in time: " + self.output
            time.sleep(0.5)

    def children(self) -> dict[str, int]:
        return json.loads((self.data_dir / "logs" / "children.json").read_text())

    def status(self) -> dict[str, str]:
        reply = httpx.get(
            f"http://127.0.0.1:{self.ports['gateway']}/v1/admin/status", headers={"X-API-Key": DEV_KEY}, timeout=10
        )
        return reply.json()["dependencies"]

    def listening(self) -> list[str]:
        """The suite's parts that still accept connections."""
        still = []
        for name, port in self.ports.items():
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                still.append(name)
        return still


def test_up_starts_every_part_until_ready_and_stops_them_all_on_sigint(tmp_path, redis_url):
    with_prometheus = shutil.which("prometheus") is not None
    suite = _Up(tmp_path, redis_url, with_prometheus=with_prometheus)
    try:
        suite.wait_for("ragmesh is up", 240)
        assert httpx.get(f"http://127.0.0.1:{suite.ports['gateway']}/readyz", timeout=5).status_code == 200
        assert set(suite.status().values()) == {"serving"}
        _observed(suite, with_prometheus)
        suite.process.send_signal(signal.SIGINT)
        suite.process.wait(timeout=60)
        suite.reader.join(timeout=10)
        assert suite.process.returncode == 0, suite.output
        assert "ragmesh is up" in suite.output and "stopped." in suite.output
        # Every child is gone: nothing listens on the suite's ports any more.
        assert suite.listening() == []
    finally:
        if suite.process.poll() is None:
            suite.process.kill()


def test_up_restarts_a_dead_service_while_the_gateway_degrades_and_no_child_outlives_a_killed_supervisor(
    tmp_path, redis_url
):
    suite = _Up(tmp_path, redis_url)
    try:
        suite.wait_for("ragmesh is up", 240)
        generator = suite.children()["generator"]
        os.kill(generator, signal.SIGKILL)
        # The gateway keeps answering while the generator is down (retrieval only, degraded), never a 500.
        base = f"http://127.0.0.1:{suite.ports['gateway']}"
        reply = httpx.post(
            f"{base}/v1/query", headers={"X-API-Key": DEV_KEY}, json={"question": "anything at all?"}, timeout=60
        )
        assert reply.status_code == 200, reply.text
        suite.wait_for("generator restarted", 60)
        assert suite.children()["generator"] != generator
        deadline = time.monotonic() + 90
        while suite.status()["generator"] != "serving":
            assert time.monotonic() < deadline, suite.output
            time.sleep(1)
        # The supervisor is killed outright: its children die with it (none is left behind, holding a port).
        pids = suite.children()
        suite.process.kill()
        suite.process.wait(timeout=10)
        deadline = time.monotonic() + 60
        while alive := [name for name, pid in pids.items() if _running(pid)]:
            assert time.monotonic() < deadline, f"left behind: {alive}"
            time.sleep(0.5)
        assert suite.listening() == []
    finally:
        if suite.process.poll() is None:
            suite.process.kill()


def _observed(suite: _Up, with_prometheus: bool) -> None:
    """Each process serves its own metrics, writes JSON log lines with the trace of each request, and Prometheus
    (when installed) scrapes them all with the alert rules loaded."""
    base = f"http://127.0.0.1:{suite.ports['gateway']}"
    reply = httpx.post(f"{base}/v1/search", headers={"X-API-Key": DEV_KEY}, json={"query": "ferry"}, timeout=60)
    assert reply.status_code == 200, reply.text
    expected = {
        "gateway": "assistant_requests",
        "embedder": "ragmesh_grpc_server_handled",
        "retriever": "ragmesh_grpc_server_handled",
        "generator": "ragmesh_generator_in_flight_generations",
        "ingest": "ragmesh_ingest_quarantined_documents",
    }
    for service, metric in expected.items():
        text = httpx.get(f"http://127.0.0.1:{suite.ports[f'{service}_metrics']}/metrics", timeout=10).text
        assert metric in {family.name for family in text_string_to_metric_families(text)}, service
    # The access-log line of that request: JSON, carrying the trace id the response gave.
    deadline = time.monotonic() + 10
    while True:
        lines = [
            json.loads(x) for x in (suite.data_dir / "logs" / "gateway.log").read_text().splitlines() if x[:1] == "{"
        ]
        access = [x for x in lines if x.get("event") == "request" and x.get("trace_id") == reply.headers["X-Trace-Id"]]
        if access or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert access and access[0]["service"] == "gateway" and access[0]["route"] == "/v1/search", lines[-5:]
    assert access[0]["tenant"] == "default" and access[0]["status"] == 200
    if not with_prometheus:
        return
    prometheus = f"http://127.0.0.1:{suite.ports['prometheus']}"
    deadline = time.monotonic() + 60
    while True:
        up = httpx.get(f"{prometheus}/api/v1/query", params={"query": "up"}, timeout=10).json()["data"]["result"]
        if sorted(r["metric"]["job"] for r in up if r["value"][1] == "1") == sorted(f"ragmesh-{s}" for s in SERVICES):
            break
        assert time.monotonic() < deadline, up
        time.sleep(1)
    groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    assert {rule["name"] for group in groups for rule in group["rules"]} >= {
        "RagmeshBreakerOpen",
        "RagmeshErrorRateHigh",
    }


def _running(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_up_names_the_part_whose_port_is_taken_or_asked_for_twice(tmp_path, redis_url):
    redis_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    plan = SuitePlan(data_dir=tmp_path, redis_port=redis_port, gateway_port=8090, llm_port=8090)
    assert "port 8090 is asked for by both the gateway and the local LLM" in port_problem(plan)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        plan = SuitePlan(data_dir=tmp_path, redis_port=redis_port, ingest_port=taken, gateway_port=free_port())
        assert f"port {taken} (the ingest's) is already in use" in port_problem(plan)
