"""The `ragmesh` command: `up` runs the suite; `ingest` and `ask` talk to its public API."""

import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ragmesh.calls import KeyFileOption, KeyOption, UrlOption, call, console, fail_on_error, key_of
from ragmesh.reviews import export, feedback, reviews_app
from ragmesh.suite import DEV_KEY, SuitePlan
from ragmesh.suite import up as run_suite

app = typer.Typer(help="ragmesh: answers over your own documents, with citations.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys of your tenant (needs an admin key): create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(reviews_app, name="reviews")
app.command()(feedback)
app.command()(export)

_TYPES = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".text": "text/plain",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
}


@app.command()
def up(
    data_dir: Annotated[Path, typer.Option(help="Where indexes, catalogue, model and logs live.")] = Path(".ragmesh"),
    port: Annotated[int, typer.Option(help="The gateway's port.")] = 8080,
    llm_threads: Annotated[int, typer.Option(help="CPU threads for the local LLM.")] = 1,
    with_prometheus: Annotated[
        bool, typer.Option(help="Also start a local Prometheus (when installed) scraping every service.")
    ] = False,
) -> None:
    """Start Redis, the local LLM and the five services; wait until healthy; Ctrl-C stops everything."""
    plan = SuitePlan(data_dir=data_dir, gateway_port=port, llm_threads=llm_threads, with_prometheus=with_prometheus)
    raise typer.Exit(run_suite(plan, console))


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _TYPES))
        elif path.is_file():
            found.append(path)
        else:
            raise typer.BadParameter(f"{path} does not exist")
    return found


def _batches(files: list[Path], max_bytes: int, max_files: int) -> list[list[Path]]:
    """Files grouped into uploads of at most `max_bytes` and `max_files` each."""
    batches: list[list[Path]] = [[]]
    size = 0
    for path in files:
        length = path.stat().st_size
        if batches[-1] and (size + length > max_bytes or len(batches[-1]) >= max_files):
            batches.append([])
            size = 0
        batches[-1].append(path)
        size += length
    return [batch for batch in batches if batch]


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files or folders (Markdown, text, HTML, PDF), or http(s) URLs.")],
    source: Annotated[str, typer.Option(help="Source label stored with each document (default: its folder).")] = "",
    tags: Annotated[str, typer.Option(help="Comma-separated tags.")] = "",
    licence: Annotated[str, typer.Option(help="Licence of the documents.")] = "",
    batch_mb: Annotated[int, typer.Option(help="Largest upload, in MB: more files go in several jobs.")] = 50,
    url: UrlOption = "http://127.0.0.1:8080",
    api_key: KeyOption = DEV_KEY,
) -> None:
    """Add documents as batch jobs and follow them with a progress bar; every file's outcome is counted and any
    that did not go in is listed with the reason."""
    urls = [p for p in paths if p.startswith(("http://", "https://"))]
    files = _files([Path(p) for p in paths if p not in urls])
    if not files and not urls:
        console.print("no supported files found")
        raise typer.Exit(1)
    jobs: list[str] = []
    queued = 0
    failures: list[str] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with (
        httpx.Client(base_url=url, headers={"X-API-Key": api_key}, timeout=600) as client,
        Progress(*columns, console=console) as bar,
    ):
        sending = bar.add_task("uploading", total=len(files) + len(urls))
        if urls:
            # Fetched by the service (robots.txt honoured, each host paced) and fetched again on its schedule.
            try:
                reply = client.post(
                    "/v1/documents",
                    data={"urls": "\n".join(urls), "tags": tags, "licence": licence, "source": source},
                )
            except httpx.HTTPError as exc:
                console.print(f"[red]cannot reach {url}: {exc}[/red] (is `ragmesh up` running?)")
                raise typer.Exit(1) from exc
            if reply.status_code == 202:
                jobs.append(reply.json()["status_url"])
                queued += len(urls)
            else:
                failures.append(f"{len(urls)} URLs: {reply.status_code} {reply.json().get('detail', reply.text)}")
            bar.advance(sending, len(urls))
        for group in _batches(files, batch_mb * 1024 * 1024, 500):
            manifest = [{"file": path.name, "source": source or str(path.parent)} for path in group]
            try:
                reply = client.post(
                    "/v1/documents",
                    files=[
                        ("file", (path.name, path.read_bytes(), _TYPES.get(path.suffix.lower(), "text/plain")))
                        for path in group
                    ],
                    # File names repeat across folders: the manifest is keyed by name, so it gives only what is
                    # shared by all and each file's folder when the names are unique.
                    data={
                        "batch": "true",
                        "tags": tags,
                        "licence": licence,
                        "source": source,
                        **({"manifest": json.dumps(manifest)} if len({p.name for p in group}) == len(group) else {}),
                    },
                )
            except httpx.HTTPError as exc:
                console.print(f"[red]cannot reach {url}: {exc}[/red] (is `ragmesh up` running?)")
                raise typer.Exit(1) from exc
            if reply.status_code == 202:
                jobs.append(reply.json()["status_url"])
                queued += len(group)
            else:
                failures.append(f"{len(group)} files: {reply.status_code} {reply.json().get('detail', reply.text)}")
            bar.advance(sending, len(group))
        states = _follow_jobs(client, bar, jobs, queued)
    counts: dict[str, int] = {}
    chunks = 0
    for job in states:
        for item in job["items"]:
            counts[item["state"]] = counts.get(item["state"], 0) + 1
            chunks += item["chunk_count"]
            if item["state"] in ("quarantined", "failed"):
                failures.append(f"{item['name']}: {item['state']}: {item['reason']}")
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing stored"
    console.print(f"{len(files) + len(urls)} {'files' if not urls else 'documents'}: {summary}; {chunks} chunks")
    for failure in failures:
        console.print(f"[red]✗[/red] {failure}")
    raise typer.Exit(1 if failures else 0)


def _follow_jobs(client: httpx.Client, bar: Progress, jobs: list[str], total: int) -> list[dict]:
    """Poll the jobs until each is done, moving a bar by the documents finished; their final states."""
    task = bar.add_task("ingesting", total=total)
    done: dict[str, dict] = {}
    while len(done) < len(jobs):
        finished = 0
        waiting = ""
        for status_url in jobs:
            job = done.get(status_url) or client.get(status_url).json()
            if job["done"]:
                done[status_url] = job
            finished += job["finished"]
            waiting = waiting or next((i["reason"] for i in job["items"] if i["state"] == "queued" and i["reason"]), "")
        bar.update(task, completed=finished, description=f"ingesting ({waiting[:60]})" if waiting else "ingesting")
        if len(done) < len(jobs):
            time.sleep(0.5)
    return [done[status_url] for status_url in jobs]


@app.command()
def evaluate(
    url: UrlOption = "http://127.0.0.1:8080", api_key: KeyOption = DEV_KEY, api_key_file: KeyFileOption = None
) -> None:
    """Run the scheduled evaluation now (an admin key): the served adapter and the canary on the tenant's verified
    labels; a canary more than 2% worse is rolled back. The chart's CronJob runs this."""
    report = call(url, key_of(api_key, api_key_file), "POST", "/v1/admin/evaluations", timeout=600)
    console.print_json(data=report)
    if report.get("rolled_back"):
        console.print(f"[yellow]canary v{report['canary_version']} rolled back[/]: {'; '.join(report['reasons'])}")


@app.command()
def mcp(url: UrlOption = "http://127.0.0.1:8080", api_key: KeyOption = DEV_KEY) -> None:
    """Serve the MCP tools (search, ask, list_documents, ingest_url, job_status) over stdio, for agents that start
    their tools as a command; each call goes to the gateway at --url with --api-key. Over HTTP, the gateway serves
    the same tools at /mcp."""
    from services.gateway.mcp_tools import mcp_server  # the MCP SDK loads only for this command

    @contextlib.asynccontextmanager
    async def client_for(_ctx) -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": api_key}, timeout=300) as client:
            yield client

    mcp_server(client_for).run("stdio")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    top_k: Annotated[int, typer.Option(help="Passages to retrieve.")] = 5,
    stream: Annotated[bool, typer.Option(help="Print the answer as it is written.")] = True,
    url: UrlOption = "http://127.0.0.1:8080",
    api_key: KeyOption = DEV_KEY,
) -> None:
    """Ask a question; prints the answer, then its citations."""
    body = {"question": question, "top_k": top_k, "stream": stream}
    headers = {"X-API-Key": api_key}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=300) as client:
            if not stream:
                reply = client.post("/v1/query", json=body)
                fail_on_error(reply)
                result = reply.json()
                console.print(result["answer"])
            else:
                result = {}
                with client.stream("POST", "/v1/query", json=body) as reply:
                    if reply.status_code != 200:
                        reply.read()
                        fail_on_error(reply)
                    event = ""
                    for line in reply.iter_lines():
                        if line.startswith("event:"):
                            event = line.split(":", 1)[1].strip()
                        elif line.startswith("data:") and event == "token":
                            console.print(json.loads(line[5:])["text"], end="", soft_wrap=True, highlight=False)
                        elif line.startswith("data:") and event == "done":
                            result = json.loads(line[5:])
                console.print()
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot reach {url}: {exc}[/red] (is `ragmesh up` running?)")
        raise typer.Exit(1) from exc
    flags = [f"confidence {result.get('confidence', 0):.2f}"]
    flags += [name for name in ("no_context", "degraded", "cached") if result.get(name)]
    flags += [f"answer {result['answer_id']}"] if result.get("answer_id") else []
    console.print(f"[dim]({', '.join(flags)})[/dim]")
    for citation in result.get("citations", []):
        mark = "*" if citation["cited"] else " "
        headings = [h for h in citation["heading_path"] if h != citation["title"]]
        where = " > ".join([citation["title"], *headings])
        detail = f"{citation['document_id']}, score {citation['score']:.2f}"
        console.print(f" {mark}[{citation['index']}] {where} [dim]({detail})[/dim]")
        console.print(f"      “{citation['quote']}”", highlight=False)


@app.command()
def deploy(
    values: Annotated[list[Path], typer.Option("--values", "-f", help="Values files, merged in order.")] = [],  # noqa: B006
    release: Annotated[str, typer.Option(help="Helm release name.")] = "ragmesh",
    namespace: Annotated[str, typer.Option(help="Kubernetes namespace.")] = "ragmesh",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Lint, render and validate; no cluster needed.")] = False,
    smoke_url: Annotated[str, typer.Option(help="The gateway's public URL, for the smoke query.")] = "",
    api_key: KeyOption = "",
    timeout: Annotated[int, typer.Option(help="Seconds for install, rollouts and rollback each.")] = 900,
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Kubeconfig (default: in-cluster, then ~/.kube/config).")
    ] = None,
) -> None:
    """Install or upgrade the Helm release, wait for every rollout, smoke-test, roll back on failure."""
    from ragmesh import deploy as deployment

    if dry_run:
        report = deployment.dry_run(deployment.load_values(values), release, namespace)
        for line in report.steps:
            console.print(line, highlight=False)
        raise typer.Exit(0 if report.ok else 1)
    if not smoke_url or not api_key:
        raise typer.BadParameter("--smoke-url and --api-key (or RAGMESH_API_KEY) are needed to verify the rollout")
    ok = deployment.deploy(
        values, release, namespace, smoke_url, api_key, timeout, kubeconfig, say=lambda line: console.print(line)
    )
    raise typer.Exit(0 if ok else 1)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="What the key is for.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated: query, ingest, admin.")] = "query",
    expires_in_days: Annotated[int | None, typer.Option(help="Days until the key stops working.")] = None,
    user: Annotated[str, typer.Option(help="The user the key acts as (document permissions).")] = "",
    groups: Annotated[str, typer.Option(help="Comma-separated groups of that user.")] = "",
    tier: Annotated[str, typer.Option(help="Request-bounds tier (free, standard, ...); default: the gateway's.")] = "",
    url: UrlOption = "http://127.0.0.1:8080",
    api_key: KeyOption = DEV_KEY,
) -> None:
    """Issue a key; it is printed once and stored only as a hash."""
    body: dict[str, object] = {
        "name": name,
        "scopes": [s.strip() for s in scopes.split(",") if s.strip()],
        "user": user,
        "groups": [g.strip() for g in groups.split(",") if g.strip()],
        "tier": tier,
    }
    if expires_in_days is not None:
        body["expires_in_days"] = expires_in_days
    created = call(url, api_key, "POST", "/v1/admin/keys", json=body)
    console.print(f"key {created['id']} for tenant {created['tenant']!r} ({', '.join(created['scopes'])})")
    console.print("store it now; it cannot be shown again:")
    print(created["key"])


@keys_app.command("list")
def keys_list(
    include_revoked: Annotated[bool, typer.Option("--all", help="Revoked keys too.")] = False,
    url: UrlOption = "http://127.0.0.1:8080",
    api_key: KeyOption = DEV_KEY,
) -> None:
    """The tenant's keys (never their secrets)."""
    listed = call(url, api_key, "GET", "/v1/admin/keys", params={"include_revoked": include_revoked})["keys"]
    for key in listed:
        state = "revoked" if key["revoked_at"] else f"expires {key['expires_at']}" if key["expires_at"] else "active"
        tier = f"  tier {key['tier']}" if key.get("tier") else ""
        console.print(f"{key['id']}  {key['prefix']}…  {key['name']}  [{', '.join(key['scopes'])}]  {state}{tier}")
    if not listed:
        console.print("no keys")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `ragmesh keys list`).")],
    url: UrlOption = "http://127.0.0.1:8080",
    api_key: KeyOption = DEV_KEY,
) -> None:
    """Revoke a key: refused on every gateway replica within a second."""
    revoked = call(url, api_key, "DELETE", f"/v1/admin/keys/{key_id}")
    console.print(f"revoked {revoked['id']} ({revoked['prefix']}…) at {revoked['revoked_at']}")


@app.command()
def usage(
    since: Annotated[str, typer.Option(help="Start (ISO 8601 with a zone); default: today 00:00 UTC.")] = "",
    url: UrlOption = "http://127.0.0.1:8080",
    api_key: KeyOption = DEV_KEY,
) -> None:
    """What this key used (requests, model calls, tokens, cost by route) and what is left of its limits."""
    report = call(url, api_key, "GET", "/v1/usage", params={"since": since} if since else {})
    total = report["total"]
    console.print(
        f"{report['tenant']} {report['spender'] or '(bootstrap key)'} since {report['since']}: "
        f"{total['requests']} requests ({total['cached']} cached), {total['model_calls']} model calls, "
        f"{total['prompt_tokens'] + total['completion_tokens']} tokens, ${total['cost_usd']:.6f}"
    )
    for row in report["by_route"]:
        console.print(f"  {row['route']}: {row['requests']} requests, ${row['cost_usd']:.6f}")
    for budget in report["budgets"]:
        console.print(
            f"  budget ({budget['scope']}): ${budget['remaining_usd']:.4f} of ${budget['limit_usd']:.2f} left today"
        )
    for limit in report["rate_limits"]:
        console.print(f"  {limit['bucket']} ({limit['scope']}): {limit['remaining']} left of {limit['limit']}")


def main() -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    app()
