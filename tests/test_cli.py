"""The `ragmesh` command line against a real gateway, and `ragmesh up` bringing the whole suite up and down."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from typer.testing import CliRunner

from ragmesh.cli import app
from ragmesh.suite import free_port
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
        assert "2 files: 2 created; 2 chunks" in result.output
        # A bad file is reported with its reason and the exit code says so.
        result = await asyncio.to_thread(runner.invoke, app, ["ingest", str(tmp_path / "broken.pdf"), *common])
        assert result.exit_code == 1 and "422" in result.output and "could not be read" in result.output
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


def test_up_starts_every_part_until_ready_and_stops_them_all_on_sigint(tmp_path, redis_url):
    ports = {name: free_port() for name in ("gateway", "embedder", "retriever", "generator", "ingest", "llm")}
    redis_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    script = (
        "from pathlib import Path; from ragmesh.suite import SuitePlan, up; "
        f"raise SystemExit(up(SuitePlan(data_dir=Path({str(tmp_path)!r}), redis_port={redis_port}, "
        + ", ".join(f"{name}_port={port}" for name, port in ports.items())
        + ")))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.decode() for line in process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 240
        while not any("ragmesh is up" in line for line in lines):
            assert process.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "the suite did not come up: " + "".join(lines)
            time.sleep(0.5)
        ready = httpx.get(f"http://127.0.0.1:{ports['gateway']}/readyz", timeout=5)
        assert ready.status_code == 200
        assert set(ready.json()["dependencies"].values()) == {"serving"}
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        reader.join(timeout=10)
        output = "".join(lines)
        assert process.returncode == 0, output
        assert "ragmesh is up" in output and "stopped." in output
        # Every child is gone: nothing listens on the suite's ports any more.
        for port in ports.values():
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
    finally:
        if process.poll() is None:
            process.kill()
