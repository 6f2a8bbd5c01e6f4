"""Real servers for tests: redis-server on a free port, gRPC services on port 0, the gateway under uvicorn."""

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import uvicorn

from ragmesh.suite import free_port, wait_for
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.runtime.host import ServiceHost


def _postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if found is None:
        raise RuntimeError("PostgreSQL is not installed: run 'make postgresql' (make test does)")
    return str(found)


@contextlib.contextmanager
def postgres_server():
    """A throwaway PostgreSQL cluster on a free loopback port; as 'nobody' when we are root (PostgreSQL refuses
    to run as root); stopped and removed on exit. Yields its URL (database 'ragmesh', trust auth on loopback)."""
    workdir = Path(tempfile.mkdtemp(prefix="ragmesh-pg-"))
    user = "nobody" if os.geteuid() == 0 else None
    if user:
        entry = pwd.getpwnam(user)
        os.chown(workdir, entry.pw_uid, entry.pw_gid)
    data, port = workdir / "data", free_port()
    # As that user, from a folder it may enter (the checkout may be private to root).
    run_as = {"user": user, "cwd": workdir} if user else {}
    subprocess.run(
        [_postgres_bin("initdb"), "-D", str(data), "-U", "ragmesh", "--auth=trust", "--no-sync", "-E", "UTF8"],
        check=True,
        capture_output=True,
        **run_as,
    )
    process = subprocess.Popen(
        [
            _postgres_bin("postgres"),
            "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(workdir),
            "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **run_as,
    )  # fmt: skip
    try:
        ready = [_postgres_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "ragmesh"]
        wait_for(lambda: subprocess.run(ready, capture_output=True).returncode == 0, process, "postgres", timeout=30)
        subprocess.run(
            [_postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "ragmesh", "ragmesh"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://ragmesh@127.0.0.1:{port}/ragmesh"
    finally:
        # Fast shutdown: clients still connected (a gateway's pool) are disconnected, not waited for. On a busy
        # machine its shutdown checkpoint can stall: then immediate shutdown, then a kill (the data is thrown away).
        for stop, patience in ((signal.SIGINT, 10), (signal.SIGQUIT, 10), (signal.SIGKILL, 30)):
            process.send_signal(stop)
            try:
                process.wait(timeout=patience)
                break
            except subprocess.TimeoutExpired:
                continue
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.asynccontextmanager
async def running(host: ServiceHost) -> AsyncIterator[str]:
    """Start a service host (warm-up included) and yield its target; stop it on exit."""
    await host.start()
    try:
        yield f"127.0.0.1:{host.port}"
    finally:
        await host.stop(grace=1)


@contextlib.asynccontextmanager
async def gateway(settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway served by uvicorn on a free loopback port, and an HTTP client for it."""
    settings = settings.model_copy(update={"port": free_port(), "host": "127.0.0.1"})
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}", timeout=300) as client:
            yield client
    finally:
        server.should_exit = True
        await task


async def streamed_answer(api: httpx.AsyncClient, headers: dict, body: dict) -> tuple[str, dict | None]:
    """POST /v1/query with stream: the text of every `token` event joined, and the `done` event's response."""
    tokens, done, event = [], None, ""
    async with api.stream("POST", "/v1/query", headers=headers, json={**body, "stream": True}) as reply:
        async for line in reply.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "token":
                tokens.append(json.loads(line[5:])["text"])
            elif line.startswith("data:") and event == "done":
                done = json.loads(line[5:])
    return "".join(tokens), done
