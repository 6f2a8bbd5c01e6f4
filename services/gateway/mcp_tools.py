"""The MCP server: tools `search`, `ask`, `list_documents`, `ingest_url` and `job_status` for agents that speak the
Model Context Protocol (the `mcp` SDK's MCPServer). Each tool calls the gateway's own HTTP API with the caller's
credential, so that an agent meets exactly the scopes, rate limits, budgets and errors its key meets over HTTP,
with no second copy of any of them. The transport decides where the API is and whose credential it carries:
streamable HTTP at the gateway's /mcp (services/gateway/mcp_http.py: the MCP request's own headers, the API in
process), or stdio from `ragmesh mcp` (the CLI's key, sent to the gateway's URL)."""

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

import httpx
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

# A client for the gateway's API that carries the credential of whoever made this MCP request.
ClientFor = Callable[[Context], AbstractAsyncContextManager[httpx.AsyncClient]]
INSTRUCTIONS = (
    "ragmesh answers questions from a team's own documents, with citations. Use `ask` for an answer with its "
    "sources, `search` for the ranked passages alone, `list_documents` to see what is indexed, and `ingest_url` to "
    "add a web page (then `job_status` to follow it)."
)
Filters = Annotated[
    dict[str, Any] | None, Field(description="Metadata filters, as /v1/search and /v1/query take them.")
]
READ_ONLY = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
WRITES = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=True)


def _body(reply: httpx.Response) -> Any:
    """The reply's JSON, or a ToolError saying what the API refused and why (the agent reads it)."""
    if reply.status_code >= 400:
        try:
            detail = reply.json().get("detail", reply.text)
        except ValueError:
            detail = reply.text
        raise ToolError(f"{reply.status_code}: {detail}")
    return reply.json()


def _citation(c: dict) -> dict:
    keep = ("index", "cited", "document_id", "title", "source", "quote", "char_start", "char_end", "score")
    return {k: c[k] for k in keep}


def mcp_server(client_for: ClientFor, poll_seconds: float = 0.5) -> MCPServer:
    """The tools, over whatever API `client_for` reaches."""
    server = MCPServer(name="ragmesh", instructions=INSTRUCTIONS)

    async def call(ctx: Context, method: str, path: str, **kwargs: Any) -> Any:
        async with client_for(ctx) as client:
            return _body(await client.request(method, path, **kwargs))

    @server.tool(annotations=READ_ONLY, structured_output=True)
    async def search(
        query: Annotated[str, Field(description="What to look for.")],
        ctx: Context,
        top_k: Annotated[int, Field(ge=1, le=100, description="Passages to return.")] = 5,
        filters: Annotated[
            dict[str, Any] | None, Field(description="Metadata filters, as /v1/search takes them.")
        ] = None,
    ) -> dict[str, Any]:
        """The passages of the documents that best match a query, ranked, with their document and offsets."""
        found = await call(ctx, "POST", "/v1/search", json={"query": query, "top_k": top_k, "filters": filters or {}})
        keep = ("document_id", "title", "source", "text", "score", "char_start", "char_end")
        return {"answer_id": found["answer_id"], "hits": [{k: h[k] for k in keep} for h in found["hits"]]}

    @server.tool(annotations=READ_ONLY, structured_output=True)
    async def ask(
        question: Annotated[str, Field(description="The question, in natural language.")],
        ctx: Context,
        history: Annotated[
            list[dict[str, str]] | None,
            Field(description="Earlier turns ({role: user|assistant, content}), for a follow-up question."),
        ] = None,
        filters: Annotated[
            dict[str, Any] | None, Field(description="Metadata filters, as /v1/query takes them.")
        ] = None,
        generate: Annotated[bool, Field(description="False: the cited passages without a written answer.")] = True,
    ) -> dict[str, Any]:
        """An answer from the documents, with the passages it cites (quote and offsets in each document), how
        confident retrieval was, and whether nothing relevant was found."""
        body = {"question": question, "history": history or [], "filters": filters or {}, "generate": generate}
        answer = await call(ctx, "POST", "/v1/query", json=body)
        keep = ("answer_id", "answer", "confidence", "no_context", "is_confused", "degraded", "rewrite")
        return {**{k: answer[k] for k in keep}, "citations": [_citation(c) for c in answer["citations"]]}

    @server.tool(annotations=READ_ONLY, structured_output=True)
    async def list_documents(
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
        offset: Annotated[int, Field(ge=0)] = 0,
    ) -> dict[str, Any]:
        """The documents indexed for this tenant: id, title, source, tags, chunks, when ingested."""
        return await call(ctx, "GET", "/v1/documents", params={"limit": limit, "offset": offset})

    @server.tool(annotations=WRITES, structured_output=True)
    async def ingest_url(
        url: Annotated[str, Field(description="An http(s) page to fetch and index (robots.txt is honoured).")],
        ctx: Context,
        title: str = "",
        tags: Annotated[list[str] | None, Field(description="Tags stored with the document.")] = None,
        wait_seconds: Annotated[
            float, Field(ge=0, le=600, description="Follow the job this long, reporting progress (0: return at once).")
        ] = 0,
    ) -> dict[str, Any]:
        """Fetch a web page and index it, as a job; with wait_seconds, follow the job until it ends."""
        form = {"urls": url, "title": title, "tags": ",".join(tags or [])}
        job = await call(ctx, "POST", "/v1/documents", data=form)
        job_id = job["job_id"]
        deadline = time.monotonic() + wait_seconds
        while wait_seconds and not job.get("done") and time.monotonic() < deadline:
            await asyncio.sleep(poll_seconds)
            job = await call(ctx, "GET", f"/v1/jobs/{job_id}")
            await ctx.report_progress(job.get("finished", 0), job.get("total") or 1, f"job {job_id}")
        return {**job, "job_id": job_id}

    @server.tool(annotations=READ_ONLY, structured_output=True)
    async def job_status(job_id: str, ctx: Context) -> dict[str, Any]:
        """An ingest job: how many of its documents are finished, and each one's state and reason."""
        return await call(ctx, "GET", f"/v1/jobs/{job_id}")

    return server
