"""The load tests' users and scenarios, for locust (run by bench/load.py, which starts the suite and reads the
results). One user asks about once a second, over a realistic mix: searches, retrieval-only answers, repeated
(cached) answers, and answers the local LLM writes. The scenario (RAGMESH_LOAD_SCENARIO) sets how many users and
for how long; RAGMESH_LOAD_SCALE shortens every duration (1: the design documents' figures)."""

import json
import os
import random

from locust import HttpUser, LoadTestShape, constant_throughput, task

QUESTIONS = json.loads(open(os.environ.get("RAGMESH_LOAD_QUESTIONS", "/dev/null")).read() or "[]")  # noqa: SIM115
SCALE = float(os.environ.get("RAGMESH_LOAD_SCALE", "1"))
# Stages: (seconds, users). A user makes about one request a second, so users are requests a second.
SCENARIOS = {
    # 1,000 requests a minute for 10 minutes.
    "steady": [(600, 17)],
    # 5,000 a minute for 2 minutes, between two calm minutes.
    "spike": [(60, 17), (120, 83), (60, 17)],
    # A short soak at the steady rate.
    "soak": [(1200, 17)],
}
STRESS_STEP_SECONDS, STRESS_STEP_USERS, STRESS_MAX_USERS = 30, 10, 400


class Asker(HttpUser):
    wait_time = constant_throughput(1)

    def on_start(self) -> None:
        self.client.headers["X-API-Key"] = os.environ["RAGMESH_LOAD_KEY"]
        self.rng = random.Random()

    def _question(self) -> str:
        return self.rng.choice(QUESTIONS)

    @task(50)
    def search(self) -> None:
        self.client.post("/v1/search", json={"query": self._question()}, name="search")

    @task(25)
    def retrieval_only(self) -> None:
        self.client.post("/v1/query", json={"question": self._question(), "generate": False}, name="query (no LLM)")

    @task(20)
    def cached(self) -> None:
        # A few popular questions, asked again and again: answered from the cache after their first time.
        question = QUESTIONS[self.rng.randrange(10)]
        self.client.post("/v1/query", json={"question": question, "generate": False}, name="query (cached)")

    @task(5)
    def generated(self) -> None:
        self.client.post("/v1/query", json={"question": self._question(), "max_tokens": 48}, name="query (LLM)")


class Scenario(LoadTestShape):
    """The stages of RAGMESH_LOAD_SCENARIO; "stress" adds users step by step until more than 1% of the last
    step's requests failed."""

    def __init__(self) -> None:
        super().__init__()
        self.name = os.environ.get("RAGMESH_LOAD_SCENARIO", "steady")
        self._step_started, self._failures, self._requests = 0.0, 0, 0

    def tick(self):
        elapsed = self.get_run_time()
        if self.name != "stress":
            for seconds, users in SCENARIOS[self.name]:
                if elapsed < seconds * SCALE:
                    return users, users
                elapsed -= seconds * SCALE
            return None
        step = int(elapsed // (STRESS_STEP_SECONDS * SCALE))
        users = STRESS_STEP_USERS * (step + 1)
        if step > self._step_started:
            total = self.runner.stats.total
            failed, asked = total.num_failures - self._failures, total.num_requests - self._requests
            self._step_started, self._failures, self._requests = step, total.num_failures, total.num_requests
            if users > STRESS_MAX_USERS or (asked and failed / asked > 0.01):
                return None
        return users, STRESS_STEP_USERS
