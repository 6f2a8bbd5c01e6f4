"""`ragmesh up`: the whole suite as local processes on the embedded defaults.

Redis (started here unless one already answers), the llama.cpp server with the packaged Gemma model, the
four gRPC services and the gateway; each waited on until healthy, all stopped together on Ctrl-C.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.console import Console

from ragmesh.local_llm import model_file
from ragmesh.prometheus import start_prometheus
from ragmesh.supervisor import Supervisor, die_with_parent

DEV_KEY = "ragmesh-dev-key"
DEV_TENANT = "default"
SERVICES = ("gateway", "embedder", "retriever", "generator", "ingest")


@dataclass
class SuitePlan:
    """Where everything runs. Ports are fixed so the CLI and a browser find the suite."""

    data_dir: Path = Path(".ragmesh")
    gateway_port: int = 8080
    embedder_port: int = 50051
    retriever_port: int = 50052
    generator_port: int = 50053
    ingest_port: int = 50054
    llm_port: int = 8090
    redis_port: int = 6379
    # Each service's Prometheus metrics (the gateway's public /metrics needs the admin scope; this port does not).
    gateway_metrics_port: int = 9464
    embedder_metrics_port: int = 9465
    retriever_metrics_port: int = 9466
    generator_metrics_port: int = 9467
    ingest_metrics_port: int = 9468
    # `ragmesh up --with-prometheus`: a local Prometheus scraping them all, with the alert rules loaded.
    with_prometheus: bool = False
    prometheus_port: int = 9090
    llm_threads: int = 1
    api_keys: str = field(
        default_factory=lambda: os.environ.get("RAGMESH_GATEWAY_API_KEYS", f'{{"{DEV_KEY}": "{DEV_TENANT}"}}')
    )

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def metrics_ports(self) -> dict[str, int]:
        return {name: getattr(self, f"{name}_metrics_port") for name in SERVICES}

    def env(self) -> dict[str, str]:
        target = "127.0.0.1:{}".format
        values = {
            "RAGMESH_EMBEDDER_PORT": self.embedder_port,
            "RAGMESH_EMBEDDER_REDIS_URL": self.redis_url,
            "RAGMESH_RETRIEVER_PORT": self.retriever_port,
            "RAGMESH_RETRIEVER_DATA_DIR": self.data_dir / "retriever",
            "RAGMESH_GENERATOR_PORT": self.generator_port,
            "RAGMESH_GENERATOR_API_BASE": f"http://127.0.0.1:{self.llm_port}/v1",
            # The local model's vocabulary counts tokens in the generator's process (no HTTP call a sentence).
            "RAGMESH_GENERATOR_TOKENIZER_GGUF": model_file(self.data_dir / "models"),
            "RAGMESH_INGEST_PORT": self.ingest_port,
            "RAGMESH_INGEST_DATA_DIR": self.data_dir / "ingest",
            # Ingest announces corpus changes there, so that gateways keep corpus versions in memory.
            "RAGMESH_INGEST_REDIS_URL": self.redis_url,
            "RAGMESH_INGEST_EMBEDDER_TARGET": target(self.embedder_port),
            "RAGMESH_INGEST_RETRIEVER_TARGET": target(self.retriever_port),
            "RAGMESH_GATEWAY_PORT": self.gateway_port,
            "RAGMESH_GATEWAY_EMBEDDER_TARGET": target(self.embedder_port),
            "RAGMESH_GATEWAY_RETRIEVER_TARGET": target(self.retriever_port),
            "RAGMESH_GATEWAY_GENERATOR_TARGET": target(self.generator_port),
            "RAGMESH_GATEWAY_INGEST_TARGET": target(self.ingest_port),
            "RAGMESH_GATEWAY_REDIS_URL": self.redis_url,
            "RAGMESH_GATEWAY_API_KEYS": self.api_keys,
            "RAGMESH_GATEWAY_DATA_DIR": self.data_dir / "gateway",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        values |= {f"RAGMESH_{name.upper()}_METRICS_PORT": port for name, port in self.metrics_ports().items()}
        if os.environ.get("RAGMESH_GENERATOR_MODEL"):
            # A model the user chose (hosted, or on their own server): the base URL is theirs too, not ours.
            values["RAGMESH_GENERATOR_API_BASE"] = os.environ.get("RAGMESH_GENERATOR_API_BASE", "")
            del values["RAGMESH_GENERATOR_TOKENIZER_GGUF"]
        return {**os.environ, **{k: str(v) for k, v in values.items()}}


def free_port() -> int:
    """A port nothing listens on now (for tests and benchmarks that start their own servers)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct ports nothing listens on now: each is held until all are found, since a port given back at
    once may be handed out again to the next ask."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def wait_for(
    ready: Callable[[], bool], process: subprocess.Popen, what: str, timeout: float, log: Path | None = None
) -> None:
    """Poll `ready` until true; fail early, with the log's tail, when the process exits first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with code {process.returncode} before it was ready\n{tail}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} was not ready within {timeout:.0f} s")
        time.sleep(0.1)


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.3):
        return True
    return False


# Caches can never take Redis down: past this much memory Redis evicts the least recently used keys that expire
# (cache entries; the rate-limit and budget counters of callers that are active stay, being used).
REDIS_MEMORY = ("--maxmemory", "512mb", "--maxmemory-policy", "volatile-lru")


def redis_ready(port: int, password: str = "") -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.3) as sock:
        if password:
            sock.sendall(f"AUTH {password}\r\n".encode())
            if not sock.recv(16).startswith(b"+OK"):
                return False
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")
    return False


def grpc_serving(port: int) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.RpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def port_problem(plan: SuitePlan) -> str:
    """What stops the suite from binding its ports, naming the part and the port; "" when nothing does."""
    ports = {
        "gateway": plan.gateway_port,
        "embedder": plan.embedder_port,
        "retriever": plan.retriever_port,
        "generator": plan.generator_port,
        "ingest": plan.ingest_port,
        "local LLM": plan.llm_port,
        **{f"{name} metrics": port for name, port in plan.metrics_ports().items()},
    }
    if plan.with_prometheus:
        ports["Prometheus"] = plan.prometheus_port
    if not redis_ready(plan.redis_port):
        ports["redis"] = plan.redis_port
    owners: dict[int, list[str]] = {}
    for name, port in ports.items():
        owners.setdefault(port, []).append(name)
    for port, names in owners.items():
        if len(names) > 1:
            return f"port {port} is asked for by both the {names[0]} and the {names[1]}: give one another port"
    for name, port in ports.items():
        if _port_open(port):
            return f"port {port} (the {name}'s) is already in use: stop what holds it, or give the {name} another port"
    return ""


def up(plan: SuitePlan, console: Console | None = None) -> int:
    """Run the suite in the foreground until Ctrl-C or SIGTERM. Returns the exit code."""
    console = console or Console()
    supervisor = Supervisor(plan, console)
    begun = time.monotonic()

    def on_term(signum, frame):
        raise KeyboardInterrupt

    # Stop on any of them, also when started in the background (where SIGINT may be ignored from birth).
    for stop_signal in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(stop_signal, on_term)
    if problem := port_problem(plan):
        console.print(f"[red]{problem}[/red]")
        return 1
    try:
        if redis_ready(plan.redis_port):
            console.print(f"[green]✓[/green] using the Redis already on port {plan.redis_port}")
        else:
            binary = shutil.which("redis-server")
            if binary is None:
                console.print(
                    "[red]redis-server is not installed[/red]: "
                    "run 'make run' (it installs it) or apt-get install redis-server"
                )
                return 1
            redis_dir = plan.data_dir / "redis"
            redis_dir.mkdir(parents=True, exist_ok=True)
            supervisor.spawn(
                "redis",
                [
                    binary,
                    "--port",
                    str(plan.redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(redis_dir.resolve()),
                    "--appendonly",
                    "yes",
                    *REDIS_MEMORY,
                ],
            )
            supervisor.wait_until("redis", lambda: redis_ready(plan.redis_port), 30)

        from ragmesh.local_llm import server_command

        with console.status("assembling the Gemma 3 270M model from its package (first run only)…"):
            command = server_command(plan.data_dir / "models", plan.llm_port, threads=plan.llm_threads)
        supervisor.spawn("llm", command)
        for name, module in (
            ("embedder", "services.embedder"),
            ("retriever", "services.retriever"),
            ("generator", "services.generator"),
        ):
            supervisor.spawn(name, [sys.executable, "-m", module])
        supervisor.wait_until(
            "local LLM (llama.cpp + Gemma 3 270M)", lambda: http_ok(f"http://127.0.0.1:{plan.llm_port}/v1/models"), 180
        )
        supervisor.wait_until("embedder (all-MiniLM-L6-v2)", lambda: grpc_serving(plan.embedder_port), 180)
        supervisor.wait_until("retriever (qdrant-edge)", lambda: grpc_serving(plan.retriever_port), 60)
        supervisor.wait_until("generator (LiteLLM)", lambda: grpc_serving(plan.generator_port), 60)
        supervisor.spawn("ingest", [sys.executable, "-m", "services.ingest"])
        supervisor.wait_until("ingest", lambda: grpc_serving(plan.ingest_port), 60)
        supervisor.spawn("gateway", [sys.executable, "-m", "services.gateway"])
        base = f"http://127.0.0.1:{plan.gateway_port}"
        supervisor.wait_until("gateway", lambda: http_ok(f"{base}/readyz"), 60)
        prometheus = start_prometheus(plan, supervisor, console) if plan.with_prometheus else ""
        console.rule(f"[bold green]ragmesh is up in {time.monotonic() - begun:.1f} s")
        console.print(f"  API           {base}")
        console.print(f"  OpenAPI docs  {base}/docs")
        console.print(f"  readiness     {base}/readyz")
        metrics = "  ".join(f"{name} :{port}" for name, port in plan.metrics_ports().items())
        console.print(f"  metrics       http://127.0.0.1:<port>/metrics  ({metrics})")
        if prometheus:
            console.print(f"  Prometheus    {prometheus}  (targets {prometheus}/targets, alerts {prometheus}/alerts)")
        if plan.api_keys == f'{{"{DEV_KEY}": "{DEV_TENANT}"}}':
            console.print(
                f"  API key       {DEV_KEY}  (tenant '{DEV_TENANT}'; set RAGMESH_GATEWAY_API_KEYS for your own)"
            )
        console.print(f"  logs          {supervisor.logs}/")
        console.print('  try           ragmesh ingest README.md && ragmesh ask "What does make run do?"')
        console.print("  Ctrl-C stops everything.")
        while True:
            supervisor.watch()
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("\nstopping…")
        return 0
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
        return 1
    finally:
        supervisor.stop()
        console.print("stopped.")


class BackgroundSuite:
    """`ragmesh up` in a child process on free ports, with its own data dir and Redis: for benchmarks and
    evaluations that must measure the real multi-process suite."""

    def __init__(self, data_dir: Path, api_keys: dict[str, str], env: dict[str, str] | None = None) -> None:
        import json
        import threading

        names = (*SERVICES, "llm", "redis", *(f"{service}_metrics" for service in SERVICES))
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        plan = ", ".join(f"{name}_port={port}" for name, port in self.ports.items())
        script = (
            "from pathlib import Path; from ragmesh.suite import SuitePlan, up; "
            f"raise SystemExit(up(SuitePlan(data_dir=Path({str(data_dir)!r}), {plan})))"
        )
        variables = {**os.environ, **(env or {}), "RAGMESH_GATEWAY_API_KEYS": json.dumps(api_keys), "COLUMNS": "120"}
        # Its own process group, so a suite that will not stop can be killed whole, children included.
        self.process = subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=variables,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(x.decode() for x in self.process.stdout), daemon=True).start()

    def wait_up(self, console: Console, timeout: float = 300) -> float:
        """Seconds until the suite reported itself up."""
        started = time.monotonic()
        with console.status("starting the suite (ragmesh up)…"):
            while not any("ragmesh is up" in line for line in self.lines):
                if self.process.poll() is not None or time.monotonic() - started > timeout:
                    raise RuntimeError("the suite did not start:\n" + "".join(self.lines))
                time.sleep(0.2)
        return time.monotonic() - started

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @contextlib.asynccontextmanager
    async def serving(self, console: Console, api_key: str, timeout: float = 300) -> AsyncIterator[httpx.AsyncClient]:
        """Wait until the suite is up, then a client of its gateway that sends `api_key`; the suite stops
        however the block ends. `startup_s` holds how long it took to come up."""
        try:
            self.startup_s = self.wait_up(console)
            async with httpx.AsyncClient(base_url=self.url, headers={"X-API-Key": api_key}, timeout=timeout) as client:
                yield client
        finally:
            self.stop()

    def stop(self) -> None:
        if self.process.poll() is None:
            # SIGTERM: a background job may have SIGINT ignored from birth.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                # Never leave a half-stopped suite behind (nor hide the error that led here): its children die with
                # it (die_with_parent).
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@contextlib.contextmanager
def redis_server(workdir: Path, password: str = ""):
    """A throwaway redis-server bound to loopback (with a password when given); stopped on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run 'make redis-server' (make test does)")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *REDIS_MEMORY]
    command += ["--dir", str(workdir), *(["--requirepass", password] if password else [])]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: redis_ready(port, password), process, "redis-server", timeout=10)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
