"""The supervisor of `ragmesh up`: starts the suite's processes in order, restarts one that dies (with backoff, as a
kubelet would), stops them in reverse order, and makes sure none outlives it."""

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from ragmesh.suite import SuitePlan


def die_with_parent() -> None:
    """Run in a child before it executes: the kernel sends it SIGTERM when its parent dies, however the parent
    dies (SIGKILL included), so no child outlives the supervisor."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    name: str
    command: list[str]
    process: subprocess.Popen
    log: Path
    started: float = field(default_factory=time.monotonic)
    restarts: int = 0
    # Exits in a row within QUICK_EXIT seconds of a start: a service that cannot start at all.
    quick_exits: int = 0
    restart_at: float | None = None


class Supervisor:
    """Starts children in dependency order, restarts one that dies (with backoff, as a kubelet would), and stops
    them in reverse order. Children die with the supervisor, however it dies."""

    BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
    QUICK_EXIT = 10.0
    GIVE_UP = 5

    def __init__(self, plan: "SuitePlan", console: Console) -> None:
        self.plan = plan
        self.console = console
        self.children: list[Child] = []
        self.logs = plan.data_dir / "logs"

    def _popen(self, name: str, command: list[str]) -> tuple[subprocess.Popen, Path]:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        with log.open("ab") as handle:
            # A new session: Ctrl-C reaches only the supervisor, which then stops children in order.
            process = subprocess.Popen(
                command,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=self.plan.env(),
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        return process, log

    def spawn(self, name: str, command: list[str]) -> Child:
        process, log = self._popen(name, command)
        child = Child(name, command, process, log)
        self.children.append(child)
        self._record()
        return child

    def _record(self) -> None:
        """The children's process ids, for operators (and tests) at <data_dir>/logs/children.json."""
        pids = {child.name: child.process.pid for child in self.children}
        (self.logs / "children.json").write_text(json.dumps(pids))

    def _tail(self, child: Child) -> str:
        return child.log.read_text(errors="replace")[-3000:]

    def check_alive(self) -> None:
        """While the suite starts: a child that exits means the suite cannot start."""
        for child in self.children:
            if child.process.poll() is not None:
                raise RuntimeError(
                    f"{child.name} exited with code {child.process.returncode}; the end of {child.log}:\n"
                    + self._tail(child)
                )

    def watch(self) -> None:
        """Once the suite is up: restart a child that died, after a backoff that grows with each quick death and
        resets once it ran a while; give up (RuntimeError, with its log) when it cannot start at all."""
        now = time.monotonic()
        for child in self.children:
            if child.process.poll() is None:
                if now - child.started > self.QUICK_EXIT:
                    child.quick_exits = 0
                continue
            if child.restart_at is None:
                child.quick_exits = child.quick_exits + 1 if now - child.started < self.QUICK_EXIT else 1
                if child.quick_exits >= self.GIVE_UP:
                    raise RuntimeError(
                        f"{child.name} cannot start: it exited {child.quick_exits} times in a row within "
                        f"{self.QUICK_EXIT:.0f} s (last code {child.process.returncode}); the end of {child.log}:\n"
                        + self._tail(child)
                    )
                delay = self.BACKOFF[min(child.quick_exits - 1, len(self.BACKOFF) - 1)]
                child.restart_at = now + delay
                code = child.process.returncode
                self.console.print(f"[yellow]{child.name} exited with code {code}; restarting in {delay:.0f} s")
            elif now >= child.restart_at:
                child.process, child.log = self._popen(child.name, child.command)
                child.started, child.restart_at = now, None
                child.restarts += 1
                self._record()
                self.console.print(f"[green]↻[/green] {child.name} restarted (restart {child.restarts})")

    def wait_until(self, what: str, ready, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        with self.console.status(f"waiting for {what}…") as status:
            while not ready():
                self.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{what} was not ready within {timeout:.0f} s (logs in {self.logs})")
                status.update(f"waiting for {what}… {time.monotonic() - started:.0f} s")
                time.sleep(0.25)
        self.console.print(f"[green]✓[/green] {what} ready in {time.monotonic() - started:.1f} s")

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            try:
                child.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        self.children.clear()
