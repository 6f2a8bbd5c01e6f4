"""The MCP server with the `mcp` SDK's own client: over streamable HTTP at the gateway's /mcp, with the caller's key
(its scopes and errors as over HTTP), and over stdio from `ragmesh mcp`. Tools: search, ask, list_documents,
ingest_url (a page of a local site, followed to the end with progress) and job_status."""

import sys

import httpx
import httpx2
import pytest
from aiohttp import web
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from ragmesh.suite import free_port
from tests.conftest import MOCK_ANSWER
from tests.servers import gateway

KEY, READER = "key-mcp", "key-mcp-reader"
HANDBOOK = (
    b"# Kestrel security handbook\n\n## Key rotation\n\nAPI keys for the Kestrel platform must be rotated every 45 "
    b"days by the security team. Old keys stop working 24 hours after rotation.\n"
)
PAGE = "<html><head><title>Tessel harbour</title></head><body><p>The Tessel harbour opens at 7:00.</p></body></html>"


@pytest.fixture(scope="module")
async def site():
    async def page(request: web.Request) -> web.Response:
        if request.path == "/robots.txt":
            return web.Response(text="User-agent: *\nAllow: /\n")
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture(scope="module")
async def api(suite):
    async with gateway(suite.gateway_settings(api_keys={KEY: "mcp-tenant"}, rate_limits={})) as client:
        uploaded = await client.post(
            "/v1/documents", headers={"X-API-Key": KEY}, files={"file": ("kestrel.md", HANDBOOK, "text/markdown")}
        )
        assert uploaded.status_code == 201, uploaded.text
        created = await client.post(
            "/v1/admin/keys", headers={"X-API-Key": KEY}, json={"name": "reader", "scopes": ["query"]}
        )
        client.reader_key = created.json()["key"]
        yield client


def _over_http(api: httpx.AsyncClient, key: str) -> Client:
    http = httpx2.AsyncClient(headers={"X-API-Key": key}, timeout=60)
    return Client(streamable_http_client(f"{api.base_url}/mcp", http_client=http))


async def test_the_tools_are_listed_with_their_schemas(api):
    async with _over_http(api, KEY) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert sorted(tools) == ["ask", "ingest_url", "job_status", "list_documents", "search"]
    assert tools["ask"].input_schema["required"] == ["question"]
    assert (
        tools["search"].annotations.read_only_hint is True and tools["ingest_url"].annotations.read_only_hint is False
    )


async def test_ask_and_search_answer_from_the_callers_documents(api):
    async with _over_http(api, KEY) as client:
        answer = await client.call_tool("ask", {"question": "How often must Kestrel API keys be rotated?"})
        found = await client.call_tool("search", {"query": "Kestrel key rotation", "top_k": 3})
        listed = await client.call_tool("list_documents", {})
    assert answer.is_error is False
    body = answer.structured_content
    assert body["answer"] == MOCK_ANSWER and body["answer_id"].startswith("ans_") and body["no_context"] is False
    assert body["citations"][0]["title"].startswith("Kestrel") and "45" in body["citations"][0]["quote"]
    assert found.structured_content["hits"][0]["title"].startswith("Kestrel")
    assert [d["filename"] for d in listed.structured_content["documents"]] == ["kestrel.md"]


async def test_a_follow_up_through_ask_keeps_the_conversation(api):
    history = [
        {"role": "user", "content": "How often must Kestrel API keys be rotated?"},
        {"role": "assistant", "content": "Every 45 days."},
    ]
    async with _over_http(api, KEY) as client:
        answer = await client.call_tool("ask", {"question": "And how long do old ones work?", "history": history})
    assert "Kestrel" in answer.structured_content["rewrite"]["question"]


async def test_ingest_url_indexes_a_page_and_follows_its_job(api, site):
    async with _over_http(api, KEY) as client:
        progress: list[float] = []

        async def noted(value: float, total: float | None, message: str | None) -> None:
            progress.append(value)

        job = await client.call_tool(
            "ingest_url", {"url": f"{site}/harbour.html", "tags": ["ports"], "wait_seconds": 60},
            progress_callback=noted,
        )  # fmt: skip
        assert job.is_error is False, job.content
        assert progress and progress[-1] == 1  # documents finished, as the job reported them while it ran
        assert job.structured_content["done"] is True and job.structured_content["counts"] == {"indexed": 1}
        status = await client.call_tool("job_status", {"job_id": job.structured_content["job_id"]})
        assert status.structured_content["items"][0]["state"] == "indexed"
        answer = await client.call_tool("ask", {"question": "When does the Tessel harbour open?", "generate": False})
    assert "7:00" in answer.structured_content["citations"][0]["quote"]


async def test_the_callers_scopes_and_the_apis_errors_come_back_as_tool_errors(api, site):
    async with _over_http(api, api.reader_key) as client:
        refused = await client.call_tool("ingest_url", {"url": f"{site}/other.html"})
        bad = await client.call_tool("ask", {"question": "   "})
    async with _over_http(api, KEY) as client:
        missing = await client.call_tool("job_status", {"job_id": "no-such-job"})
    # The agent reads the API's status and reason (after the SDK's "Error executing tool <name>: ").
    assert refused.is_error and refused.content[0].text.endswith("403: this credential lacks the 'ingest' scope")
    assert bad.is_error and bad.content[0].text.endswith("422: question is empty")
    assert missing.is_error and ": 404: " in missing.content[0].text


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "not-a-key"}, {"Authorization": "Bearer not-a-key"}])
async def test_mcp_without_a_valid_credential_is_a_401(api, headers):
    reply = await api.post(
        "/mcp",
        headers={**headers, "Accept": "application/json, text/event-stream"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    )
    assert reply.status_code == 401 and "WWW-Authenticate" in reply.headers


async def test_the_same_tools_over_stdio_from_the_cli(api):
    command = [
        "-c", "from ragmesh.cli import app; app()", "mcp", "--url", str(api.base_url), "--api-key", KEY,
    ]  # fmt: skip
    async with Client(StdioServerParameters(command=sys.executable, args=command)) as client:
        tools = sorted(tool.name for tool in (await client.list_tools()).tools)
        found = await client.call_tool("search", {"query": "Kestrel key rotation"})
    assert tools == ["ask", "ingest_url", "job_status", "list_documents", "search"]
    assert found.structured_content["hits"][0]["title"].startswith("Kestrel")
