"""Real servers for tests: redis-server on a free port, gRPC services on port 0, the gateway under uvicorn."""

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import uvicorn

from ragmesh.suite import free_port, redis_ready, wait_for
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.runtime.host import ServiceHost


@contextlib.contextmanager
def redis_server(workdir: Path):
    """A throwaway redis-server bound to loopback; stopped on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run 'make redis-server' (make test does)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: redis_ready(port), process, "redis-server", timeout=10)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


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
