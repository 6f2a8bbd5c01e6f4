"""Exact and near duplicates within a tenant are recorded against the document already indexed, never indexed
twice; a copy for other readers, or another tenant's copy, is indexed as usual."""

from ragmesh.ingest.v1 import ingest_pb2
from tests.ingest.conftest import indexed_chunks
from tests.servers import gateway

DUPES = {"X-API-Key": "key-dupes"}

SENTENCES = [
    "The Tern ferry leaves Harl harbour at 07:15 every weekday and at 09:00 on Sundays.",
    "Tickets are sold on board, by card only, and children under twelve travel free.",
    "Bicycles travel free of charge on every crossing; cars must be booked a day ahead.",
    "In winter storms the crossing may be cancelled; cancellations are posted by 06:00 on the harbour website.",
    "The cafe on the upper deck serves hot drinks, soup and sandwiches from departure until arrival.",
    "Dogs are welcome on the open deck when kept on a lead, but not in the cafe or the lounge.",
    "Lost property is kept at the Harl harbour office for thirty days before it is given to charity.",
    "The harbour office is open from 06:30 to 19:00 and answers the telephone during the same hours.",
]
ORIGINAL = "# Tern ferry\n\n" + " ".join(SENTENCES) + "\n"
# One sentence of eight reworded: nearly the same document.
NEAR = ORIGINAL.replace("hot drinks, soup and sandwiches", "hot drinks, soups and fresh sandwiches")


def _request(tenant: str, text: str, document_id: str, **metadata) -> ingest_pb2.IngestDocumentRequest:
    return ingest_pb2.IngestDocumentRequest(
        tenant=tenant,
        filename=f"{document_id}.md",
        content=text.encode(),
        document_id=document_id,
        metadata=ingest_pb2.DocumentMetadata(**metadata),
    )


async def test_exact_and_near_copies_are_recorded_against_the_original_and_not_indexed(stubs):
    ingest, retriever = stubs
    tenant = "t-dupes"
    first = await ingest.IngestDocument(_request(tenant, ORIGINAL, "ferry"))
    assert first.status == ingest_pb2.INGEST_STATUS_CREATED
    indexed = await indexed_chunks(retriever, tenant)

    exact = await ingest.IngestDocument(_request(tenant, ORIGINAL, "ferry-copy"))
    assert exact.status == ingest_pb2.INGEST_STATUS_DUPLICATE
    assert (exact.duplicate_of, exact.similarity, exact.chunk_count) == ("ferry", 1.0, 0)
    near = await ingest.IngestDocument(_request(tenant, NEAR, "ferry-reworded"))
    assert near.status == ingest_pb2.INGEST_STATUS_DUPLICATE and near.duplicate_of == "ferry"
    assert 0.9 <= near.similarity < 1.0
    assert await indexed_chunks(retriever, tenant) == indexed
    listed = await ingest.ListDocuments(ingest_pb2.ListDocumentsRequest(tenant=tenant))
    assert [d.document_id for d in listed.documents] == ["ferry"]

    # Something else, and the same text for other readers: both indexed.
    other = await ingest.IngestDocument(_request(tenant, "# Refunds\n\nRefunds within thirty days.\n", "refunds"))
    assert other.status == ingest_pb2.INGEST_STATUS_CREATED
    private = await ingest.IngestDocument(_request(tenant, ORIGINAL, "ferry-crew", allowed_groups=["crew"]))
    assert private.status == ingest_pb2.INGEST_STATUS_CREATED
    # Another tenant's copy is that tenant's own document.
    elsewhere = await ingest.IngestDocument(_request("t-dupes-other", ORIGINAL, "ferry"))
    assert elsewhere.status == ingest_pb2.INGEST_STATUS_CREATED

    # The original itself may change a little: an update, not a duplicate of itself.
    updated = await ingest.IngestDocument(_request(tenant, NEAR, "ferry"))
    assert updated.status == ingest_pb2.INGEST_STATUS_UPDATED
    # Once it is deleted, its copy is welcome.
    await ingest.DeleteDocument(ingest_pb2.DeleteDocumentRequest(tenant=tenant, document_id="ferry"))
    again = await ingest.IngestDocument(_request(tenant, ORIGINAL, "ferry-copy"))
    assert again.status == ingest_pb2.INGEST_STATUS_CREATED


async def test_the_api_says_which_document_an_upload_duplicates(suite):
    text = ORIGINAL.encode()
    files = {"file": ("tern.md", text, "text/markdown")}
    # A tenant of its own: other tests count the shared tenants' documents.
    async with gateway(suite.gateway_settings(api_keys={"key-dupes": "dupes"})) as api:
        first = await api.post("/v1/documents", headers=DUPES, files=files)
        assert first.status_code == 201, first.text
        copy = await api.post("/v1/documents", headers=DUPES, files=files, data={"document_id": "tern-2"})
    assert copy.status_code == 200, copy.text
    body = copy.json()
    assert body["status"] == "duplicate" and body["duplicate_of"] == first.json()["document_id"]
    assert body["similarity"] == 1.0 and body["chunk_count"] == 0
