"""The object store behind raw artifacts: a local folder, and S3 (moto's server, the only S3 we can run here), with
the same contract; versioning keeps what was replaced or deleted; the ingest service runs on either."""

import grpc
import pytest

from ragmesh.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest.artifacts import document_key
from services.ingest.catalog import Catalog
from services.ingest.config import IngestSettings
from services.ingest.records.database import Database
from services.ingest.server import create_server
from services.records.objects import LocalFolder, S3Bucket, open_store
from tests.conftest import S3_CREDENTIALS as CREDENTIALS
from tests.servers import running


@pytest.fixture(params=["folder", "s3"])
async def store(request, tmp_path):
    if request.param == "folder":
        yield LocalFolder(tmp_path)
        return
    bucket = S3Bucket("artifacts", "ragmesh", endpoint_url=request.getfixturevalue("s3_endpoint"), **CREDENTIALS)
    await bucket.start()
    yield bucket
    bucket.close()


async def test_objects_keep_their_bytes_and_metadata_and_go_when_deleted(store):
    metadata = {"name": "Grüße aus Köln.pdf", "licence": "CC-BY-4.0", "sha256": "ab" * 32, "size-bytes": "5"}
    await store.put("raw/acme/doc-1", b"hello", metadata)
    assert await store.get("raw/acme/doc-1") == b"hello"
    assert await store.metadata("raw/acme/doc-1") == metadata
    await store.put("raw/acme/doc-1", b"hello again", {"name": "second"})
    assert await store.get("raw/acme/doc-1") == b"hello again"
    assert (await store.metadata("raw/acme/doc-1"))["name"] == "second"
    await store.delete("raw/acme/doc-1")
    await store.delete("raw/acme/doc-1")  # deleting what is gone is fine
    for read in (store.get, store.metadata):
        with pytest.raises(FileNotFoundError):
            await read("raw/acme/doc-1")


async def test_s3_versioning_keeps_every_revision_of_an_artifact(s3_endpoint):
    bucket = S3Bucket("versioned", "", endpoint_url=s3_endpoint, **CREDENTIALS)
    await bucket.start()
    await bucket.put("raw/acme/doc", b"one", {})
    await bucket.put("raw/acme/doc", b"two", {})
    await bucket.delete("raw/acme/doc")
    client = bucket._client
    assert client.get_bucket_versioning(Bucket="versioned")["Status"] == "Enabled"
    listed = client.list_object_versions(Bucket="versioned", Prefix="raw/acme/doc")
    assert len(listed["Versions"]) == 2 and len(listed["DeleteMarkers"]) == 1
    bucket.close()


def test_the_store_is_chosen_by_its_url(tmp_path):
    assert isinstance(open_store("", tmp_path), LocalFolder)
    assert isinstance(open_store("s3://bucket/prefix", tmp_path, **CREDENTIALS), S3Bucket)
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        open_store("ftp://elsewhere", tmp_path)


async def test_the_ingest_service_keeps_raw_artifacts_in_s3(suite, s3_endpoint, tmp_path):
    settings = IngestSettings(
        data_dir=tmp_path,
        embedder_target=suite.embedder,
        retriever_target=suite.retriever,
        object_store_url="s3://ingest-artifacts/prod",
        s3_endpoint_url=s3_endpoint,
        s3_region="us-east-1",
        s3_access_key_id="testing",
        s3_secret_access_key="testing",
    )
    async with running(create_server(settings)) as target, grpc.aio.insecure_channel(target) as channel:
        ingest = ingest_pb2_grpc.IngestServiceStub(channel)
        text = "# Lighthouse\n\nThe Tessel lighthouse flashes white every ten seconds.\n"
        reply = await ingest.IngestDocument(
            ingest_pb2.IngestDocumentRequest(
                tenant="t-s3",
                filename="lighthouse.md",
                content=text.encode(),
                metadata=ingest_pb2.DocumentMetadata(licence="CC0-1.0", source="harbour guide"),
            )
        )
        read = await ingest.GetDocumentText(
            ingest_pb2.GetDocumentTextRequest(tenant="t-s3", document_id=reply.document_id)
        )
        assert read.text.startswith("Lighthouse") or "lighthouse flashes" in read.text
        database = Database(f"sqlite:///{tmp_path / 'ingest.db'}")
        stored_revision = (await Catalog(database).get("t-s3", reply.document_id)).revision
        # A new revision of another document: its bytes replace the old revision's only once it is catalogued.
        bucket = S3Bucket("ingest-artifacts", "prod", endpoint_url=s3_endpoint, **CREDENTIALS)
        for edition in (1, 2):
            await ingest.IngestDocument(
                ingest_pb2.IngestDocumentRequest(
                    tenant="t-s3",
                    document_id="tides",
                    filename="tides.md",
                    content=f"# Tides\n\nEdition {edition}.\n".encode(),
                )
            )
            if edition == 1:
                first = (await Catalog(database).get("t-s3", "tides")).revision
        second = (await Catalog(database).get("t-s3", "tides")).revision
        assert second != first and await bucket.get(document_key("t-s3", "tides", second)) == b"# Tides\n\nEdition 2.\n"
        with pytest.raises(FileNotFoundError):
            await bucket.get(document_key("t-s3", "tides", first))
        await database.close()
    # Nothing of it in the data dir: the bytes and their metadata are in the bucket.
    assert not (tmp_path / "raw").exists()
    bucket = S3Bucket("ingest-artifacts", "prod", endpoint_url=s3_endpoint, **CREDENTIALS)
    # Each revision's bytes under a key of their own (the catalogue names which).
    key = document_key("t-s3", reply.document_id, stored_revision)
    assert await bucket.get(key) == text.encode()
    stored = await bucket.metadata(key)
    assert stored["licence"] == "CC0-1.0" and stored["source"] == "harbour guide" and stored["name"] == "lighthouse.md"
    assert stored["size-bytes"] == str(len(text.encode())) and stored["content-type"] == "text/markdown"
    assert len(stored["sha256"]) == 64 and stored["config-version"] and stored["stored-at"].endswith("Z")
    bucket.close()
