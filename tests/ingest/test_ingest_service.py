"""The ingest service over real gRPC, with the real embedder and retriever behind it."""

import grpc
import numpy as np
import pytest

from ragmesh.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from ragmesh.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from ragmesh.retriever.v1 import retriever_pb2, retriever_pb2_grpc
from ragmesh.suite import free_port
from services.ingest.config import IngestSettings
from services.ingest.extract import extract
from services.ingest.server import create_server
from services.runtime.sentences import sentence_spans, unpack_vectors
from tests.ingest.conftest import indexed_chunks
from tests.servers import running

GUIDE = b"# Deploy guide\n\n## Canary\n\nShip to five percent of pods first.\n\n## Rollback\n\nUse helm rollback.\n"


def _request(tenant: str, content: bytes = GUIDE, **fields) -> ingest_pb2.IngestDocumentRequest:
    return ingest_pb2.IngestDocumentRequest(tenant=tenant, filename="guide.md", content=content, **fields)


async def test_ingest_is_idempotent_and_an_update_replaces_theindexed_chunks(stubs):
    ingest, retriever = stubs
    first = await ingest.IngestDocument(_request("t-idem", document_id="guide"))
    assert first.status == ingest_pb2.INGEST_STATUS_CREATED and first.chunk_count == 2
    again = await ingest.IngestDocument(_request("t-idem", document_id="guide"))
    assert again.status == ingest_pb2.INGEST_STATUS_UNCHANGED and await indexed_chunks(retriever, "t-idem") == 2
    longer = GUIDE + b"\n## Monitoring\n\nWatch the error budget.\n\n## Alerts\n\nPage the on-call.\n"
    updated = await ingest.IngestDocument(_request("t-idem", longer, document_id="guide"))
    assert updated.status == ingest_pb2.INGEST_STATUS_UPDATED and updated.chunk_count == 4
    assert await indexed_chunks(retriever, "t-idem") == 4
    shorter = await ingest.IngestDocument(
        _request("t-idem", b"# Deploy guide\n\nOnly one line now.\n", document_id="guide")
    )
    assert shorter.chunk_count == 1 and await indexed_chunks(retriever, "t-idem") == 1
    record = await ingest.GetDocument(ingest_pb2.GetDocumentRequest(tenant="t-idem", document_id="guide"))
    assert (
        record.chunk_count == 1 and record.created_at <= record.updated_at and record.metadata.title == "Deploy guide"
    )


async def test_content_without_an_id_gets_a_stable_derived_one(stubs):
    ingest, retriever = stubs
    one = await ingest.IngestDocument(_request("t-derived"))
    two = await ingest.IngestDocument(_request("t-derived"))
    assert one.document_id == two.document_id and one.document_id.startswith("doc_")
    assert two.status == ingest_pb2.INGEST_STATUS_UNCHANGED and await indexed_chunks(retriever, "t-derived") == 2


async def test_each_chunk_carries_its_sentences_vectors_as_the_embedder_gives_them(suite, stubs):
    ingest, retriever = stubs
    text = b"# Pumps\n\n## Priming\n\nOpen the bleed valve. Run the pump for ten seconds! Is water flowing? Close it.\n"
    await ingest.IngestDocument(_request("t-sentences", text, document_id="pumps"))
    reply = await retriever.GetSections(
        retriever_pb2.GetSectionsRequest(
            tenant="t-sentences",
            viewer=retriever_pb2.Viewer(everything=True),
            sections=[retriever_pb2.SectionRef(document_id="pumps", section_id=s) for s in ("s0", "s1", "s2")],
        )
    )
    chunks = [chunk for section in reply.sections for chunk in section.chunks]
    sentences = [chunk.text[a:b] for chunk in chunks for a, b in sentence_spans(chunk.text)]
    assert "Run the pump for ten seconds!" in sentences and len(sentences) >= 4
    async with grpc.aio.insecure_channel(suite.embedder) as channel:
        embedded = await embedder_pb2_grpc.EmbedderServiceStub(channel).Embed(
            embedder_pb2.EmbedRequest(texts=sentences, kind=embedder_pb2.INPUT_KIND_DOCUMENT)
        )
    stored = np.vstack([unpack_vectors(c.sentence_vectors, len(sentence_spans(c.text))) for c in chunks])
    fresh = np.asarray([list(v.values) for v in embedded.vectors])
    assert (stored * fresh).sum(axis=1).min() > 0.999


async def test_metadata_is_stored_and_listed(stubs):
    ingest, _ = stubs
    meta = ingest_pb2.DocumentMetadata(
        title="Runbook", source="wiki", tags=["ops", "deploy", "ops"], licence="CC-BY-4.0"
    )
    await ingest.IngestDocument(_request("t-meta", metadata=meta, document_id="runbook"))
    listed = await ingest.ListDocuments(ingest_pb2.ListDocumentsRequest(tenant="t-meta"))
    assert listed.total == 1
    doc = listed.documents[0]
    assert (doc.metadata.title, doc.metadata.source, list(doc.metadata.tags), doc.metadata.licence) == (
        "Runbook",
        "wiki",
        ["deploy", "ops"],
        "CC-BY-4.0",
    )
    assert doc.size_bytes == len(GUIDE) and doc.content_type == "text/markdown" and len(doc.content_hash) == 64


async def test_delete_removes_the_record_and_every_chunk(stubs):
    ingest, retriever = stubs
    await ingest.IngestDocument(_request("t-del", document_id="gone"))
    reply = await ingest.DeleteDocument(ingest_pb2.DeleteDocumentRequest(tenant="t-del", document_id="gone"))
    assert reply.chunks_deleted == 2 and await indexed_chunks(retriever, "t-del") == 0
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await ingest.GetDocument(ingest_pb2.GetDocumentRequest(tenant="t-del", document_id="gone"))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tenant": "", "filename": "a.md", "content": b"x"}, "tenant is required"),
        ({"tenant": "t", "filename": "a.md", "content": b""}, "the document is empty"),
        (
            {"tenant": "t", "filename": "a.exe", "content": b"MZ\x90", "content_type": "application/x-msdownload"},
            "is not supported",
        ),
        ({"tenant": "t", "filename": "a.md", "content": b"x", "document_id": "has spaces"}, "document_id must be"),
    ],
)
async def test_bad_documents_are_invalid_argument(stubs, fields, message):
    ingest, _ = stubs
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await ingest.IngestDocument(ingest_pb2.IngestDocumentRequest(**fields))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.value.details()


async def test_a_failed_ingest_leaves_nothing_behind_and_keeps_the_previous_revision(suite, tmp_path):
    # The same catalogue and index, but an embedder that is down: a real failure mid-pipeline.
    async with grpc.aio.insecure_channel(suite.retriever) as channel:
        retriever = retriever_pb2_grpc.RetrieverServiceStub(channel)
        settings = IngestSettings(data_dir=tmp_path, embedder_target=suite.embedder, retriever_target=suite.retriever)
        async with running(create_server(settings)) as target, grpc.aio.insecure_channel(target) as ingest_channel:
            ingest = ingest_pb2_grpc.IngestServiceStub(ingest_channel)
            await ingest.IngestDocument(_request("t-fail", document_id="doc"))
            before = await ingest.GetCorpusVersion(ingest_pb2.GetCorpusVersionRequest(tenant="t-fail"))
            other = await ingest.GetCorpusVersion(ingest_pb2.GetCorpusVersionRequest(tenant="t-other"))
        broken = settings.model_copy(update={"embedder_target": f"127.0.0.1:{free_port()}", "call_timeout_seconds": 3})
        async with running(create_server(broken)) as target, grpc.aio.insecure_channel(target) as ingest_channel:
            ingest = ingest_pb2_grpc.IngestServiceStub(ingest_channel)
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await ingest.IngestDocument(_request("t-fail", GUIDE + b"\n## New\n\nChanged.\n", document_id="doc"))
            assert error.value.code() == grpc.StatusCode.UNAVAILABLE
            with pytest.raises(grpc.aio.AioRpcError):
                await ingest.IngestDocument(_request("t-fail", b"# Other\n\nNew document.\n", document_id="new"))
            # The previous revision is whole; the new document left no chunk and no record.
            assert await indexed_chunks(retriever, "t-fail") == 2
            record = await ingest.GetDocument(ingest_pb2.GetDocumentRequest(tenant="t-fail", document_id="doc"))
            assert record.chunk_count == 2
            listed = await ingest.ListDocuments(ingest_pb2.ListDocumentsRequest(tenant="t-fail"))
            assert [d.document_id for d in listed.documents] == ["doc"]
            # Chunks of a failed revision may have been searchable for a moment: the corpus version moved (caches
            # keyed on it start afresh); another tenant's did not.
            after = await ingest.GetCorpusVersion(ingest_pb2.GetCorpusVersionRequest(tenant="t-fail"))
            assert before.version != "0" and after.version != before.version
            unmoved = await ingest.GetCorpusVersion(ingest_pb2.GetCorpusVersionRequest(tenant="t-other"))
            assert unmoved.version == other.version == "0"


PAPER_SCHEMA = [
    ingest_pb2.MetadataField(name="year", type=ingest_pb2.FIELD_TYPE_YEAR, aliases=["published"]),
    ingest_pb2.MetadataField(name="authors", type=ingest_pb2.FIELD_TYPE_KEYWORDS, aliases=["by"]),
    ingest_pb2.MetadataField(name="journal", type=ingest_pb2.FIELD_TYPE_KEYWORD, values=["Cell", "Nature"]),
]


def _paper(tenant: str, document_id: str, attributes: dict) -> ingest_pb2.IngestDocumentRequest:
    # A text of its own: the same text under another id would be a duplicate, not indexed.
    text = GUIDE.replace(b"five percent", f"five percent ({document_id})".encode())
    request = _request(tenant, text, document_id=document_id)
    request.metadata.attributes.update(attributes)
    return request


async def test_attributes_follow_the_declared_schema_into_the_index(stubs):
    ingest, retriever = stubs
    declared = await ingest.PutMetadataSchema(ingest_pb2.PutMetadataSchemaRequest(tenant="t-meta", fields=PAPER_SCHEMA))
    assert [f.name for f in declared.fields] == ["year", "authors", "journal"]
    assert list(declared.fields[0].operators) == [ingest_pb2.OPERATOR_GTE, ingest_pb2.OPERATOR_LTE]
    reply = await ingest.IngestDocument(
        _paper("t-meta", "p1", {"year": 2019, "authors": ["Smith", "Li"], "journal": "Lancet"})
    )
    assert reply.status == ingest_pb2.INGEST_STATUS_CREATED, reply
    stored = await ingest.GetDocument(ingest_pb2.GetDocumentRequest(tenant="t-meta", document_id="p1"))
    assert dict(stored.metadata.attributes)["year"] == 2019
    schema = await ingest.GetMetadataSchema(ingest_pb2.GetMetadataSchemaRequest(tenant="t-meta"))
    values = {f.name: list(f.values) for f in schema.fields}
    assert values == {"year": [], "authors": ["Li", "Smith"], "journal": ["Cell", "Nature", "Lancet"]}
    found = await retriever.GetSections(
        retriever_pb2.GetSectionsRequest(
            tenant="t-meta", sections=[retriever_pb2.SectionRef(document_id="p1", section_id="s1")]
        )
    )
    assert dict(found.sections[0].chunks[0].attributes)["journal"] == "Lancet"


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"colour": "red"}, "attribute 'colour' is not in the metadata schema"),
        ({"year": "recent"}, "attribute 'year' must be a number (year)"),
        ({"year": 19}, "must be a four-digit year"),
        ({"authors": [""]}, "attribute 'authors' must be a non-empty string"),
    ],
)
async def test_attributes_outside_the_schema_are_refused_and_nothing_changes(stubs, attributes, message):
    ingest, retriever = stubs
    await ingest.PutMetadataSchema(ingest_pb2.PutMetadataSchemaRequest(tenant="t-meta-bad", fields=PAPER_SCHEMA))
    await ingest.IngestDocument(_paper("t-meta-bad", "kept", {"year": 2020}))
    before = await indexed_chunks(retriever, "t-meta-bad")
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await ingest.IngestDocument(_paper("t-meta-bad", "kept", attributes))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in error.value.details()
    stored = await ingest.GetDocument(ingest_pb2.GetDocumentRequest(tenant="t-meta-bad", document_id="kept"))
    assert (
        dict(stored.metadata.attributes) == {"year": 2020} and await indexed_chunks(retriever, "t-meta-bad") == before
    )


async def test_a_schema_change_may_not_strand_stored_attributes(stubs):
    ingest, _ = stubs
    await ingest.PutMetadataSchema(ingest_pb2.PutMetadataSchemaRequest(tenant="t-meta-change", fields=PAPER_SCHEMA))
    await ingest.IngestDocument(_paper("t-meta-change", "p", {"year": 2020}))
    retyped = [ingest_pb2.MetadataField(name="year", type=ingest_pb2.FIELD_TYPE_KEYWORD)]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await ingest.PutMetadataSchema(ingest_pb2.PutMetadataSchemaRequest(tenant="t-meta-change", fields=retyped))
    assert "field 'year' cannot change type to keyword: 1 document(s) carry it as year" in error.value.details()
    unused_dropped = PAPER_SCHEMA[:1]
    kept = await ingest.PutMetadataSchema(
        ingest_pb2.PutMetadataSchemaRequest(tenant="t-meta-change", fields=unused_dropped)
    )
    assert [f.name for f in kept.fields] == ["year"]
    bad = [ingest_pb2.MetadataField(name="Year!", type=ingest_pb2.FIELD_TYPE_YEAR)]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await ingest.PutMetadataSchema(ingest_pb2.PutMetadataSchemaRequest(tenant="t-meta-change", fields=bad))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "must match" in error.value.details()


async def test_the_extracted_text_is_served_exactly_as_it_was_indexed(suite, tmp_path):
    settings = IngestSettings(data_dir=tmp_path, embedder_target=suite.embedder, retriever_target=suite.retriever)
    async with running(create_server(settings)) as target, grpc.aio.insecure_channel(target) as channel:
        ingest = ingest_pb2_grpc.IngestServiceStub(channel)
        await ingest.IngestDocument(_request("t-text", document_id="guide"))
        whole = await ingest.GetDocumentText(ingest_pb2.GetDocumentTextRequest(tenant="t-text", document_id="guide"))
        expected = extract(GUIDE, "text/markdown").text
        assert whole.text == expected and whole.total_chars == len(expected) and whole.char_end == len(expected)
        record = await ingest.GetDocument(ingest_pb2.GetDocumentRequest(tenant="t-text", document_id="guide"))
        assert whole.content_hash == record.content_hash
        sections = {tuple(s.heading_path): expected[s.char_start : s.char_end] for s in whole.sections}
        assert sections[("Deploy guide", "Rollback")] == "Use helm rollback."
        start = expected.index("helm")
        piece = await ingest.GetDocumentText(
            ingest_pb2.GetDocumentTextRequest(
                tenant="t-text", document_id="guide", char_start=start, char_end=start + 4
            )
        )
        assert piece.text == "helm" and piece.total_chars == len(expected)

        async def refused(code: grpc.StatusCode, message: str, **fields) -> None:
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await ingest.GetDocumentText(ingest_pb2.GetDocumentTextRequest(**fields))
            assert error.value.code() == code and message in error.value.details()

        await refused(
            grpc.StatusCode.INVALID_ARGUMENT,
            "fall outside the text",
            tenant="t-text",
            document_id="guide",
            char_end=999,
        )
        # Another tenant cannot read it.
        await refused(grpc.StatusCode.NOT_FOUND, "not found", tenant="t-other", document_id="guide")
        # A raw artifact that no longer yields the indexed text is refused, never served with wrong offsets.
        (raw,) = tmp_path.glob("raw/*/guide@*")
        raw.write_bytes(b"# Deploy guide\n\nSomething else entirely.\n")
        await refused(grpc.StatusCode.FAILED_PRECONDITION, "ingest it again", tenant="t-text", document_id="guide")
        raw.unlink()
        await refused(grpc.StatusCode.FAILED_PRECONDITION, "is missing", tenant="t-text", document_id="guide")


async def test_each_chunk_says_how_many_chunks_its_section_holds(stubs):
    ingest, retriever = stubs
    long_section = " ".join(f"Step {n}: check the valve seal and note its pressure reading." for n in range(40))
    text = f"# Pumps\n\n## Short\n\nPrime the pump.\n\n## Long\n\n{long_section}\n".encode()
    await ingest.IngestDocument(_request("t-section-sizes", text, document_id="pumps"))
    reply = await retriever.GetSections(
        retriever_pb2.GetSectionsRequest(
            tenant="t-section-sizes",
            viewer=retriever_pb2.Viewer(everything=True),
            sections=[retriever_pb2.SectionRef(document_id="pumps", section_id=f"s{n}") for n in range(4)],
        )
    )
    sizes = {section.section_id: {c.section_chunks for c in section.chunks} for section in reply.sections}
    counts = {section.section_id: len(section.chunks) for section in reply.sections}
    assert sizes == {name: {count} for name, count in counts.items()} and max(counts.values()) > 1
    assert 1 in counts.values()
