"""URL sources, against a local HTTP server only: robots.txt honoured, pages that opt out of AI use and licences on
the exclusion list refused with the reason, failing hosts retried with back-off, one host paced, and a scheduled
recrawl that asks with the page's validators, so that an unchanged page costs a 304 and a changed one is
re-indexed under the same document."""

import asyncio
import itertools
import time

import grpc
import pytest
from aiohttp import web

from ragmesh.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from ragmesh.suite import free_port
from services.ingest.catalog import Catalog
from services.ingest.config import IngestSettings
from services.ingest.records.database import Database
from services.ingest.server import create_server
from services.ingest.sources import url_document_id
from tests.servers import running


class Site:
    """A small web site that counts what it is asked."""

    def __init__(self) -> None:
        self.version = 1
        self.hits: list[tuple[float, str, str]] = []  # (when, path, status)
        self.flaky_left = 2

    def guide(self) -> str:
        return (
            f"<html><head><title>Harbour guide</title></head><body><h1>Harbour guide</h1><p>Edition {self.version}: "
            f"the Tessel harbour opens at {6 + self.version}:00 and the pilot boat leaves from berth "
            f"{self.version * 3}.</p></body></html>"
        )

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        if path == "/robots.txt":
            reply = web.Response(text="User-agent: *\nDisallow: /private/\n")
        elif path == "/guide.html":
            etag = f'"v{self.version}"'
            if request.headers.get("If-None-Match") == etag:
                reply = web.Response(status=304, headers={"ETag": etag})
            else:
                reply = web.Response(text=self.guide(), content_type="text/html", headers={"ETag": etag})
        elif path == "/flaky.html":
            if self.flaky_left:
                self.flaky_left -= 1
                reply = web.Response(status=503)
            else:
                reply = web.Response(
                    text="<p>The ferry office sells tickets until 17:30.</p>", content_type="text/html"
                )
        elif path == "/noai.html":
            reply = web.Response(
                text="<p>Not for machines.</p>", content_type="text/html", headers={"X-Robots-Tag": "noai"}
            )
        elif path == "/meta-noai.html":
            reply = web.Response(
                text='<html><head><meta name="robots" content="noai, noimageai"></head><body><p>Poems.</p></body></html>',
                content_type="text/html",
            )
        else:
            reply = web.Response(text="<p>Private pier rules.</p>", content_type="text/html")
        self.hits.append((time.monotonic(), path, str(reply.status)))
        return reply


@pytest.fixture
async def site():
    site = Site()
    app = web.Application()
    app.router.add_get("/{tail:.*}", site.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    site.base = f"http://127.0.0.1:{port}"
    yield site
    await runner.cleanup()


async def _until_done(ingest, tenant: str, job_id: str) -> ingest_pb2.Job:
    for _ in range(600):
        job = await ingest.GetJob(ingest_pb2.GetJobRequest(tenant=tenant, job_id=job_id))
        if job.done:
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job not done: {job}")


async def test_url_sources_are_fetched_politely_and_recrawled_when_they_change(suite, site, tmp_path):
    settings = IngestSettings(
        data_dir=tmp_path,
        embedder_target=suite.embedder,
        retriever_target=suite.retriever,
        job_poll_seconds=0.1,
        fetch_retry_first_seconds=0.05,
        fetch_retry_most_seconds=0.2,
        fetch_per_host_per_second=5,
        # A recrawl a few seconds after each fetch, looked for twice a second.
        recrawl_hours=3 / 3600,
        recrawl_check_seconds=0.5,
        excluded_licences=["CC-BY-ND-4.0"],
        required_uses=["rag"],
    )
    tenant = "t-sources"
    async with running(create_server(settings)) as target, grpc.aio.insecure_channel(target) as channel:
        ingest = ingest_pb2_grpc.IngestServiceStub(channel)
        pages = ["guide.html", "private/pier.html", "noai.html", "flaky.html", "meta-noai.html"]
        documents = [ingest_pb2.JobDocument(url=f"{site.base}/{page}") for page in pages]
        documents += [
            ingest_pb2.JobDocument(
                filename="deck.md",
                content=b"# Deck\n\nNo derivatives.\n",
                metadata=ingest_pb2.DocumentMetadata(licence="CC-BY-ND-4.0"),
            ),
            ingest_pb2.JobDocument(
                filename="corpus.md",
                content=b"# Corpus\n\nFor training only.\n",
                metadata=ingest_pb2.DocumentMetadata(allowed_uses=["training"]),
            ),
            ingest_pb2.JobDocument(
                filename="tables.md",
                document_id="tables",
                content=b"# Tide tables\n\nHigh water at 06:12.\n",
                metadata=ingest_pb2.DocumentMetadata(licence="CC-BY-4.0", allowed_uses=["RAG", "search"]),
            ),
        ]
        submitted = await ingest.SubmitJob(ingest_pb2.SubmitJobRequest(tenant=tenant, documents=documents))
        job = await _until_done(ingest, tenant, submitted.job_id)
        outcome = {item.name.rsplit("/", 1)[-1]: (item.state, item.reason) for item in job.items}
        assert outcome["guide.html"][0] == "indexed" and outcome["flaky.html"][0] == "indexed", outcome
        assert outcome["pier.html"] == (
            "quarantined",
            f"robots.txt of {site.base} disallows fetching {site.base}/private/pier.html",
        )
        assert outcome["noai.html"][0] == "quarantined" and "X-Robots-Tag: noai" in outcome["noai.html"][1]
        assert outcome["meta-noai.html"][0] == "quarantined" and "opts out of AI use" in outcome["meta-noai.html"][1]
        assert outcome["deck.md"][0] == "quarantined" and "exclusion list" in outcome["deck.md"][1]
        assert outcome["corpus.md"] == ("quarantined", "the document's allowed uses (training) do not include rag")
        assert outcome["tables.md"][0] == "indexed"
        # Never asked for the disallowed page; asked three times for the flaky one (two 503s, then the page).
        paths = [path for _, path, _ in site.hits]
        assert "/private/pier.html" not in paths and paths.count("/flaky.html") == 3
        assert paths.count("/robots.txt") == 1
        # One host, at most five requests a second.
        moments = [when for when, _, _ in site.hits]
        assert min(b - a for a, b in itertools.pairwise(moments)) >= 0.15

        database = Database(f"sqlite:///{tmp_path / 'ingest.db'}")
        catalog = Catalog(database)
        guide_id = url_document_id(tenant, f"{site.base}/guide.html")
        assert (await catalog.get(tenant, "tables")).allowed_uses == ["rag", "search"]
        first = await catalog.get(tenant, guide_id)
        assert first.source == f"{site.base}/guide.html" and first.title == "Harbour guide"
        # The recrawl asks with the page's ETag: unchanged, a 304 and nothing else.
        for _ in range(100):
            if ("/guide.html", "304") in [(path, status) for _, path, status in site.hits]:
                break
            await asyncio.sleep(0.1)
        assert ("/guide.html", "304") in [(path, status) for _, path, status in site.hits]
        assert (await catalog.get(tenant, guide_id)).revision == first.revision
        # The page changes: the next recrawl re-indexes it, under the same document.
        site.version = 2
        for _ in range(150):
            current = await catalog.get(tenant, guide_id)
            if current.revision != first.revision:
                break
            await asyncio.sleep(0.1)
        assert current.revision != first.revision and current.created_at == first.created_at
        text = await ingest.GetDocumentText(ingest_pb2.GetDocumentTextRequest(tenant=tenant, document_id=guide_id))
        assert "Edition 2" in text.text and "berth 6" in text.text
        await database.close()


async def test_bad_urls_are_refused_at_submission(suite, tmp_path):
    settings = IngestSettings(data_dir=tmp_path, embedder_target=suite.embedder, retriever_target=suite.retriever)
    async with running(create_server(settings)) as target, grpc.aio.insecure_channel(target) as channel:
        ingest = ingest_pb2_grpc.IngestServiceStub(channel)
        for document, message in (
            (ingest_pb2.JobDocument(url="ftp://example.com/a.txt"), "not an http(s) URL"),
            (ingest_pb2.JobDocument(url="http://example.com/a", content=b"x"), "not both"),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await ingest.SubmitJob(ingest_pb2.SubmitJobRequest(tenant="t", documents=[document]))
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in refused.value.details()
