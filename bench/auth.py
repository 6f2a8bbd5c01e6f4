"""What authentication, rate limiting and spending control add to a request, against baselines from the same run.

1. The authenticator alone (in process): a bootstrap key, a stored API key (cached, and looked up in the database
   every time), and JWTs (RS256, ES256, HS256) — each call's cost is what auth adds to a request.
2. Rate limiting (in process, a real redis-server on loopback): admitting and releasing a request against the
   default caller tiers (three moving windows) and the tenant's in-flight cap, against no limits at all.
3. Budgets (in process, real Redis): a model call's reservation and settlement against three budgets, against none;
   and the usage ledger's row per request (SQLite, or --database).
4. Through HTTP: GET /v1/admin/keys (auth, then one small SQL query) with each credential, beside GET /healthz
   (no auth at all) on the same gateway: the floor.

    python -m bench.auth [--calls 2000] [--database postgresql://...]
Results: printed, and written to bench/results/auth-<UTC time>.json.
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import redis.asyncio as redis
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from rich.console import Console
from rich.table import Table

from ragmesh.suite import free_port, redis_server
from services.gateway.app import create_app
from services.gateway.auth.authenticator import Authenticator
from services.gateway.auth.jwt import JwtVerifier
from services.gateway.auth.keys import KeyStore
from services.gateway.budgets import BudgetPolicy, Budgets
from services.gateway.config import GatewaySettings
from services.gateway.identity import Principal
from services.gateway.models import Usage
from services.gateway.ratelimits import LimitPolicy, RateLimiter
from services.gateway.records.database import Database
from services.gateway.usage import UsageLedger
from services.runtime.background import Background

console = Console()
ISSUER, SECRET = "https://idp.bench", "b" * 48


def _pem(private) -> str:
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return public.decode()


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 4),
        "p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 4),
        "n": len(ordered),
    }


async def _time(call, count: int) -> dict[str, float]:
    for _ in range(min(50, count)):
        await call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return _summary(samples)


async def _interleaved(calls: dict, rounds: int) -> dict[str, dict[str, float]]:
    """Each call once per round, in turn, so drift over the run (caches, the machine) hits every one alike."""
    samples: dict[str, list[float]] = {label: [] for label in calls}
    for round_ in range(rounds + 20):
        for label, call in calls.items():
            started = time.perf_counter()
            reply = await call()
            elapsed = (time.perf_counter() - started) * 1000
            reply.raise_for_status()
            if round_ >= 20:  # the first rounds warm up
                samples[label].append(elapsed)
    return {label: _summary(values) for label, values in samples.items()}


async def _rate_limits(settings: GatewaySettings, workdir: Path, calls: int) -> dict:
    caller = Principal(tenant="bench", via="api-key", key_id="k1")
    with redis_server(workdir) as url:
        client = redis.from_url(url)
        policies = {
            "no limits (baseline)": LimitPolicy(),
            "three caller tiers (moving windows)": LimitPolicy(
                caller={"answer": ["1000000/minute", "1000000/hour", "1000000/day"]}
            ),
            "caller tiers + tenant in-flight cap": LimitPolicy(
                caller={"answer": ["1000000/minute", "1000000/hour", "1000000/day"]}, tenant_in_flight=1000
            ),
        }
        measured, background = {}, Background()
        for label, policy in policies.items():
            limiter = RateLimiter(client, policy)

            async def one(limiter=limiter) -> None:
                # As the gateway does: the slot is given back after the response, without holding it up.
                background.spawn(limiter.release(await limiter.admit(caller, "answer")))

            measured[label] = await _time(one, calls)
            await background.drain()
        await client.aclose()
    return measured


async def _spending(settings: GatewaySettings, workdir: Path, calls: int) -> dict:
    """A model call's reservation and settlement (three budgets, one Lua script), and a request's ledger row."""
    caller = Principal(tenant="bench", via="api-key", key_id="k1")
    measured = {}
    with redis_server(workdir) as url:
        client = redis.from_url(url)
        for label, policy in {
            "no budgets (baseline)": BudgetPolicy(user_usd=0, tenant_usd=0, suite_usd=0),
            "caller + tenant + suite budgets": BudgetPolicy(user_usd=1e6, tenant_usd=1e6, suite_usd=1e6),
        }.items():
            budgets = Budgets(client, policy)

            async def one(budgets=budgets) -> None:
                await budgets.settle(await budgets.reserve(caller, 0.001), 0.0005)

            measured[f"reserve + settle: {label}"] = await _time(one, calls)
        await client.aclose()
    database = Database(settings.database)
    ledger = UsageLedger(database)
    usage = Usage(prompt_tokens=900, completion_tokens=120, cost_usd=0.0005, model_calls=2)
    # One row in its own transaction: the gateway batches a request's rows with others' (records/batched.py).
    measured["usage ledger: one row, one transaction"] = await _time(
        lambda: ledger.record([UsageLedger.line(caller, "query", usage, 500, cached=False)]), calls
    )
    await database.close()
    return measured


async def main(args: argparse.Namespace) -> dict:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    results: dict = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "calls": args.calls}
    with tempfile.TemporaryDirectory(prefix="ragmesh-bench-auth-") as data_dir:
        settings = GatewaySettings(
            data_dir=Path(data_dir),
            database_url=args.database,
            api_keys={"bench-bootstrap": "bench"},
            jwt_issuer=ISSUER,
            jwt_public_keys=[_pem(rsa_key), _pem(ec_key)],
            jwt_algorithms=["RS256", "ES256", "HS256"],
            jwt_hs256_secret=SECRET,
            host="127.0.0.1",
            port=free_port(),
        )
        database = Database(settings.database)
        await database.migrate()
        keys = KeyStore(database)
        stored = (await keys.create("bench", "bench", ["admin"], created_by="bench")).key
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": "ragmesh", "sub": "ann", "tenant": "bench", "scope": "admin", "exp": now + 3600}
        credentials = {
            "bootstrap key (configuration)": "bench-bootstrap",
            "stored API key, cached (1 s)": stored,
            "JWT RS256": jwt.encode(claims, rsa_key, algorithm="RS256"),
            "JWT ES256": jwt.encode(claims, ec_key, algorithm="ES256"),
            "JWT HS256": jwt.encode(claims, SECRET, algorithm="HS256"),
        }
        cached = Authenticator(settings.api_keys, keys, JwtVerifier.configured(settings), key_cache_seconds=3600)
        uncached = Authenticator(settings.api_keys, keys, JwtVerifier.configured(settings), key_cache_seconds=0)
        direct = {}
        for label, credential in credentials.items():
            direct[label] = await _time(lambda c=credential: cached.authenticate(c), args.calls)
        direct["stored API key, database every call"] = await _time(lambda: uncached.authenticate(stored), args.calls)
        results["authenticator"] = direct
        await database.close()
        results["rate_limits"] = await _rate_limits(settings, Path(data_dir), args.calls)
        results["spending"] = await _spending(settings, Path(data_dir), args.calls)

        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning")
        )
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}") as client:
            calls = {"GET /healthz (no auth): the floor": lambda: client.get("/healthz")}
            for label, credential in credentials.items():
                headers = {"Authorization": f"Bearer {credential}"}
                calls[f"GET /v1/admin/keys, {label}"] = lambda h=headers: client.get("/v1/admin/keys", headers=h)
            http = await _interleaved(calls, args.calls // 4)
        server.should_exit = True
        await task
        results["http"] = http
    floor = results["http"]["GET /healthz (no auth): the floor"]["p50_ms"]
    for entry in results["http"].values():
        entry["p50_x_floor"] = round(entry["p50_ms"] / floor, 2)
    return results


def report(results: dict) -> None:
    table = Table(title="what authentication and rate limits cost (medians; same run)")
    for column in ("measure", "p50", "p95", "ratio"):
        table.add_column(column)
    for label, entry in results["authenticator"].items():
        table.add_row(f"authenticate(): {label}", f"{entry['p50_ms']} ms", f"{entry['p95_ms']} ms", "")
    for label, entry in results["rate_limits"].items():
        table.add_row(f"admit + release: {label}", f"{entry['p50_ms']} ms", f"{entry['p95_ms']} ms", "")
    for label, entry in results["spending"].items():
        table.add_row(label, f"{entry['p50_ms']} ms", f"{entry['p95_ms']} ms", "")
    for label, entry in results["http"].items():
        table.add_row(label, f"{entry['p50_ms']} ms", f"{entry['p95_ms']} ms", f"{entry['p50_x_floor']}x floor")
    console.print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--database", default="", help="A SQLAlchemy URL; default: SQLite in a temporary folder.")
    arguments = parser.parse_args()
    outcome = asyncio.run(main(arguments))
    report(outcome)
    out = Path(__file__).parent / "results" / f"auth-{outcome['at'].replace(':', '')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(outcome, indent=2))
    console.print(f"written to {out}")
