"""The retriever over real gRPC, on both Qdrant engines: qdrant-edge and qdrant-client's local mode."""

import uuid

import grpc
import numpy as np
import pytest

from ragmesh.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from ragmesh.retriever.v1 import retriever_pb2, retriever_pb2_grpc
from services.retriever.config import RetrieverSettings
from services.retriever.server import create_server
from services.runtime.sentences import pack_vectors, sentence_spans, unpack_vectors
from tests.servers import running

DOCS = {
    "rotation": (
        "Key rotation",
        "API keys must be rotated every 45 days by the security team.",
        "handbook",
        ["security"],
    ),
    "volcano": ("Mount Orvane", "Mount Orvane is a dormant volcano that last erupted in 1872.", "atlas", ["geology"]),
    "bread": ("Sourdough", "Feed the sourdough starter with flour and water twice a day.", "kitchen", ["food"]),
}


@pytest.fixture(params=["edge", "qdrant"], scope="module")
async def backend(request, tmp_path_factory):
    settings = RetrieverSettings(backend=request.param, data_dir=tmp_path_factory.mktemp(request.param))
    async with running(create_server(settings)) as target, grpc.aio.insecure_channel(target) as channel:
        yield retriever_pb2_grpc.RetrieverServiceStub(channel), settings


@pytest.fixture(scope="module")
async def embed(embedder_target):
    async with grpc.aio.insecure_channel(embedder_target) as channel:
        stub = embedder_pb2_grpc.EmbedderServiceStub(channel)

        async def run(*texts: str) -> list[list[float]]:
            reply = await stub.Embed(embedder_pb2.EmbedRequest(texts=list(texts)))
            return [list(v.values) for v in reply.vectors]

        yield run


async def _index(stub, embed, tenant: str, revision: str = "r1", names=tuple(DOCS)) -> None:
    vectors = await embed(*(DOCS[n][1] for n in names))
    chunks = [
        retriever_pb2.Chunk(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{name}/{revision}")),
            document_id=name,
            text=DOCS[name][1],
            title=DOCS[name][0],
            source=DOCS[name][2],
            tags=DOCS[name][3],
            revision=revision,
            dense=vector,
        )
        for name, vector in zip(names, vectors, strict=True)
    ]
    reply = await stub.Upsert(retriever_pb2.UpsertRequest(tenant=tenant, chunks=chunks))
    assert reply.upserted == len(chunks)


async def _search(stub, embed, tenant, text, **kwargs):
    (vector,) = await embed(text)
    request = retriever_pb2.SearchRequest(
        tenant=tenant, text=text, dense=vector, top_k=kwargs.pop("top_k", 3), **kwargs
    )
    return (await stub.Search(request)).hits


@pytest.mark.parametrize(
    "mode", [retriever_pb2.SEARCH_MODE_HYBRID, retriever_pb2.SEARCH_MODE_DENSE, retriever_pb2.SEARCH_MODE_SPARSE]
)
async def test_every_mode_ranks_the_matching_chunk_first(backend, embed, mode):
    stub, _ = backend
    await _index(stub, embed, "t-modes")
    hits = await _search(stub, embed, "t-modes", "how often must API keys be rotated", mode=mode)
    assert hits[0].chunk.document_id == "rotation"
    assert hits[0].chunk.title == "Key rotation" and list(hits[0].chunk.tags) == ["security"]
    assert hits[0].dense_similarity > 0.4
    # Re-upserting the same ids duplicates nothing.
    await _index(stub, embed, "t-modes")
    assert (await stub.GetStats(retriever_pb2.GetStatsRequest(tenant="t-modes"))).chunks == 3


@pytest.mark.parametrize(
    "options",
    [
        {"fusion": retriever_pb2.FUSION_DBSF},
        {"rrf_k": 2, "dense_weight": 3.0, "sparse_weight": 0.5},
        {"mmr_lambda": 0.7},
        {"mmr_lambda": 1.0, "mode": retriever_pb2.SEARCH_MODE_DENSE},
        {"candidates": 3},
    ],
)
async def test_fusion_and_mmr_options_keep_the_best_match_first(backend, embed, options):
    stub, _ = backend
    await _index(stub, embed, "t-options")
    hits = await _search(stub, embed, "t-options", "how often must API keys be rotated", **options)
    assert hits[0].chunk.document_id == "rotation" and len(hits) == 3


async def test_mmr_prefers_diverse_results_over_near_duplicates(backend, embed):
    stub, _ = backend
    twins = [
        "API keys must be rotated every 45 days.",
        "API keys must be rotated every forty-five days.",
        "Mount Orvane last erupted in 1872.",
    ]
    vectors = await embed(*twins)
    chunks = [
        retriever_pb2.Chunk(id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"mmr/{i}")), document_id=f"d{i}", text=t, dense=v)
        for i, (t, v) in enumerate(zip(twins, vectors, strict=True))
    ]
    await stub.Upsert(retriever_pb2.UpsertRequest(tenant="t-mmr", chunks=chunks))
    plain = await _search(
        stub, embed, "t-mmr", "API key rotation period", top_k=2, mode=retriever_pb2.SEARCH_MODE_DENSE
    )
    diverse = await _search(
        stub, embed, "t-mmr", "API key rotation period", top_k=2, mode=retriever_pb2.SEARCH_MODE_DENSE, mmr_lambda=0.2
    )
    assert {h.chunk.document_id for h in plain} == {"d0", "d1"}
    assert "d2" in {h.chunk.document_id for h in diverse}


async def test_a_tenant_never_sees_another_tenants_chunks(backend, embed):
    stub, _ = backend
    await _index(stub, embed, "t-owner")
    hits = await _search(stub, embed, "t-stranger", "how often must API keys be rotated", top_k=10)
    assert hits == [] or all(h.chunk.document_id not in DOCS for h in hits)
    assert (await stub.GetStats(retriever_pb2.GetStatsRequest(tenant="t-stranger"))).chunks == 0


async def test_filters_narrow_by_any_of_and_none_of(backend, embed):
    stub, _ = backend
    await _index(stub, embed, "t-filters")
    only_atlas = retriever_pb2.Filter(must=[retriever_pb2.Condition(field="source", any_of=["atlas"])])
    hits = await _search(stub, embed, "t-filters", "API keys rotation", filter=only_atlas)
    assert [h.chunk.document_id for h in hits] == ["volcano"]
    not_security = retriever_pb2.Filter(must=[retriever_pb2.Condition(field="tags", none_of=["security"])])
    hits = await _search(stub, embed, "t-filters", "API keys rotation", filter=not_security)
    assert {h.chunk.document_id for h in hits} == {"volcano", "bread"}


PAPERS = {
    "p2015": ({"year": 2015, "authors": ["Smith", "Okafor"], "journal": "Cell"}, "Tumour growth in mice."),
    "p2019": ({"year": 2019, "authors": ["Smith"], "journal": "Nature"}, "Tumour growth in zebrafish."),
    "p2021": ({"year": 2021, "authors": ["Lindqvist"], "journal": "Nature"}, "Tumour growth in organoids."),
}


async def test_attribute_filters_match_keywords_lists_and_numeric_ranges(backend, embed):
    stub, _ = backend
    vectors = await embed(*(text for _, text in PAPERS.values()))
    chunks = []
    for (name, (attributes, text)), vector in zip(PAPERS.items(), vectors, strict=True):
        chunk = retriever_pb2.Chunk(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, name)), document_id=name, text=text, dense=vector
        )
        chunk.attributes.update(attributes)
        chunks.append(chunk)
    await stub.Upsert(retriever_pb2.UpsertRequest(tenant="t-attributes", chunks=chunks))

    async def found(*conditions: retriever_pb2.Condition) -> set[str]:
        hits = await _search(
            stub, embed, "t-attributes", "tumour growth", top_k=10, filter=retriever_pb2.Filter(must=conditions)
        )
        return {h.chunk.document_id for h in hits}

    assert await found(retriever_pb2.Condition(field="attributes.year", gte=2016)) == {"p2019", "p2021"}
    assert await found(retriever_pb2.Condition(field="attributes.year", gte=2015, lte=2019)) == {"p2015", "p2019"}
    assert await found(retriever_pb2.Condition(field="attributes.authors", any_of=["Smith"])) == {"p2015", "p2019"}
    assert await found(
        retriever_pb2.Condition(field="attributes.journal", any_of=["Nature"]),
        retriever_pb2.Condition(field="attributes.authors", none_of=["Smith"]),
    ) == {"p2021"}
    hits = await _search(stub, embed, "t-attributes", "zebrafish", top_k=1)
    assert dict(hits[0].chunk.attributes) == {"year": 2019.0, "authors": ["Smith"], "journal": "Nature"}


async def test_sections_come_back_whole_and_in_order(backend, embed):
    stub, _ = backend
    texts = ["Install the agent.", "Configure the agent.", "Start the agent.", "Unrelated appendix."]
    vectors = await embed(*texts)
    chunks = [
        retriever_pb2.Chunk(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"sections/{i}")),
            document_id="guide",
            chunk_index=i,
            section_id="s0" if i < 3 else "s1",
            text=text,
            dense=vector,
        )
        for i, (text, vector) in reversed(list(enumerate(zip(texts, vectors, strict=True))))
    ]
    await stub.Upsert(retriever_pb2.UpsertRequest(tenant="t-sections", chunks=chunks))
    reply = await stub.GetSections(
        retriever_pb2.GetSectionsRequest(
            tenant="t-sections",
            sections=[
                retriever_pb2.SectionRef(document_id="guide", section_id="s1"),
                retriever_pb2.SectionRef(document_id="guide", section_id="s0"),
                retriever_pb2.SectionRef(document_id="guide", section_id="s9"),
            ],
        )
    )
    assert [s.section_id for s in reply.sections] == ["s1", "s0"]
    assert [c.text for c in reply.sections[1].chunks] == texts[:3]
    other_tenant = await stub.GetSections(
        retriever_pb2.GetSectionsRequest(
            tenant="t-other", sections=[retriever_pb2.SectionRef(document_id="guide", section_id="s0")]
        )
    )
    assert not other_tenant.sections


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"filter": retriever_pb2.Filter(must=[retriever_pb2.Condition(field="colour", any_of=["red"])])},
            "unknown filter field 'colour'",
        ),
        (
            {"filter": retriever_pb2.Filter(must=[retriever_pb2.Condition(field="attributes.Year;drop", gte=1)])},
            "unknown filter field 'attributes.Year;drop'",
        ),
        (
            {"filter": retriever_pb2.Filter(must=[retriever_pb2.Condition(field="source", gte=1)])},
            "'source' is not numeric",
        ),
        (
            {"filter": retriever_pb2.Filter(must=[retriever_pb2.Condition(field="attributes.year", gte=5, lte=1)])},
            "gte 5.0 is above lte 1.0",
        ),
        ({"top_k": 0}, "top_k must be between 1 and 100"),
        ({"top_k": 101}, "top_k must be between 1 and 100"),
        ({"dense": [0.1] * 3}, "must have 384 values"),
        ({"tenant": ""}, "tenant is required"),
        ({"text": " "}, "text is required"),
        ({"mmr_lambda": 1.5}, "mmr_lambda must be between 0 and 1"),
        ({"mmr_lambda": 0.5, "mode": retriever_pb2.SEARCH_MODE_SPARSE}, "mmr_lambda needs the dense vector"),
        ({"candidates": 5000}, "candidates must be at most 1000"),
    ],
)
async def test_bad_searches_are_invalid_argument(backend, embed, change, message):
    stub, _ = backend
    (vector,) = await embed("anything")
    request = retriever_pb2.SearchRequest(tenant="t", text="anything", dense=vector, top_k=3)
    for name, value in change.items():
        if name == "filter":
            request.filter.CopyFrom(value)
        elif name == "dense":
            del request.dense[:]
            request.dense.extend(value)
        else:
            setattr(request, name, value)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.Search(request)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.value.details()


async def test_upsert_rejects_a_wrong_sized_vector_and_stores_nothing(backend):
    stub, _ = backend
    bad = retriever_pb2.Chunk(id=str(uuid.uuid4()), document_id="d", text="x", dense=[0.5] * 10)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.Upsert(retriever_pb2.UpsertRequest(tenant="t-bad", chunks=[bad]))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (await stub.GetStats(retriever_pb2.GetStatsRequest(tenant="t-bad"))).chunks == 0


async def test_sentence_vectors_come_back_with_searches_and_sections_as_stored(backend, embed):
    stub, _ = backend
    text = "Mount Orvane is a dormant volcano. It last erupted in 1872."
    spans = sentence_spans(text)
    assert [text[start:end] for start, end in spans] == [
        "Mount Orvane is a dormant volcano.",
        "It last erupted in 1872.",
    ]
    chunk_vector, *sentence_rows = await embed(text, *(text[start:end] for start, end in spans))
    packed = pack_vectors(sentence_rows)
    chunk = retriever_pb2.Chunk(
        id=str(uuid.uuid4()),
        document_id="orvane",
        section_id="s0",
        text=text,
        dense=chunk_vector,
        sentence_vectors=packed,
    )
    await stub.Upsert(retriever_pb2.UpsertRequest(tenant="t-sentences", chunks=[chunk]))
    (hit,) = await _search(stub, embed, "t-sentences", "when did the volcano erupt", top_k=1)
    sections = await stub.GetSections(
        retriever_pb2.GetSectionsRequest(
            tenant="t-sentences", sections=[retriever_pb2.SectionRef(document_id="orvane", section_id="s0")]
        )
    )
    for returned in (hit.chunk, sections.sections[0].chunks[0]):
        assert returned.sentence_vectors == packed
        rows = unpack_vectors(returned.sentence_vectors, 2)
        assert np.allclose(rows, np.asarray(sentence_rows), atol=1e-3)
    # A caller that only lists hits leaves them out (the rest of the hit as it was).
    (listed,) = await _search(
        stub, embed, "t-sentences", "when did the volcano erupt", top_k=1, omit_sentence_vectors=True
    )
    assert listed.chunk.sentence_vectors == b"" and listed.chunk.text == text and listed.score == hit.score


async def test_upsert_rejects_sentence_vectors_that_are_not_rows_of_the_dimension(backend, embed):
    stub, _ = backend
    (vector,) = await embed("anything")
    bad = retriever_pb2.Chunk(
        id=str(uuid.uuid4()), document_id="d", text="x", dense=vector, sentence_vectors=pack_vectors([[0.5] * 10])
    )
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.Upsert(retriever_pb2.UpsertRequest(tenant="t-bad-sentences", chunks=[bad]))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not float16 rows of 384 values" in error.value.details()
    assert (await stub.GetStats(retriever_pb2.GetStatsRequest(tenant="t-bad-sentences"))).chunks == 0


async def test_revisions_swap_and_documents_delete(backend, embed):
    stub, _ = backend
    await _index(stub, embed, "t-rev", revision="old")
    await _index(stub, embed, "t-rev", revision="new", names=("rotation",))
    # Drop what is not the new revision of "rotation": its old chunk goes, other documents stay.
    await stub.DeleteDocument(
        retriever_pb2.DeleteDocumentRequest(tenant="t-rev", document_id="rotation", keep_revision="new")
    )
    assert (await stub.GetStats(retriever_pb2.GetStatsRequest(tenant="t-rev"))).chunks == 3
    hits = await _search(stub, embed, "t-rev", "API keys rotated", top_k=5)
    assert [h.chunk.revision for h in hits if h.chunk.document_id == "rotation"] == ["new"]
    await stub.DeleteDocument(retriever_pb2.DeleteDocumentRequest(tenant="t-rev", document_id="volcano"))
    assert (await stub.GetStats(retriever_pb2.GetStatsRequest(tenant="t-rev"))).chunks == 2


@pytest.mark.parametrize("engine", ["edge", "qdrant"])
async def test_the_index_survives_a_restart(engine, tmp_path, embed):
    settings = RetrieverSettings(backend=engine, data_dir=tmp_path)
    async with running(create_server(settings)) as target, grpc.aio.insecure_channel(target) as channel:
        await _index(retriever_pb2_grpc.RetrieverServiceStub(channel), embed, "t-durable")
    async with running(create_server(settings)) as target, grpc.aio.insecure_channel(target) as channel:
        stub = retriever_pb2_grpc.RetrieverServiceStub(channel)
        assert (await stub.GetStats(retriever_pb2.GetStatsRequest(tenant="t-durable"))).chunks == 3
        hits = await _search(stub, embed, "t-durable", "when did the volcano erupt")
        assert hits[0].chunk.document_id == "volcano"
        assert np.isclose(hits[0].dense_similarity, hits[0].dense_similarity)


async def test_readers_see_only_the_documents_open_to_them(backend, embed):
    """Access lists in both engines: the whole tenant, named users, named groups; sections and searches alike;
    and a document's access changed in place."""
    stub, _ = backend
    docs = {"open": ([], []), "eng-only": ([], ["eng"]), "alice-only": (["alice"], [])}
    texts = {name: f"The quarterly {name} report covers rotation of keys." for name in docs}
    vectors = await embed(*texts.values())
    chunks = [
        retriever_pb2.Chunk(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"acl/{name}")),
            document_id=name,
            section_id="s0",
            text=texts[name],
            dense=vector,
            allowed_users=users,
            allowed_groups=groups,
        )
        for (name, (users, groups)), vector in zip(docs.items(), vectors, strict=True)
    ]
    await stub.Upsert(retriever_pb2.UpsertRequest(tenant="t-acl", chunks=chunks))

    async def seen(viewer: retriever_pb2.Viewer | None) -> set[str]:
        extra = {"viewer": viewer} if viewer is not None else {}
        hits = await _search(stub, embed, "t-acl", "quarterly report rotation of keys", top_k=10, **extra)
        sections = await stub.GetSections(
            retriever_pb2.GetSectionsRequest(
                tenant="t-acl",
                sections=[retriever_pb2.SectionRef(document_id=d, section_id="s0") for d in docs],
                **extra,
            )
        )
        found = {h.chunk.document_id for h in hits}
        assert found == {s.document_id for s in sections.sections}
        return found

    assert await seen(None) == {"open"}
    assert await seen(retriever_pb2.Viewer(user="bob", groups=["sales"])) == {"open"}
    assert await seen(retriever_pb2.Viewer(user="bob", groups=["eng"])) == {"open", "eng-only"}
    assert await seen(retriever_pb2.Viewer(user="alice")) == {"open", "alice-only"}
    assert await seen(retriever_pb2.Viewer(everything=True)) == set(docs)
    hit = (await _search(stub, embed, "t-acl", "alice-only", top_k=3, viewer=retriever_pb2.Viewer(user="alice")))[0]
    assert list(hit.chunk.allowed_users) == ["alice"] or hit.chunk.document_id != "alice-only"
    await stub.SetDocumentAccess(
        retriever_pb2.SetDocumentAccessRequest(tenant="t-acl", document_id="alice-only", allowed_groups=["sales"])
    )
    assert await seen(retriever_pb2.Viewer(user="bob", groups=["sales"])) == {"open", "alice-only"}
    assert await seen(retriever_pb2.Viewer(user="alice")) == {"open"}
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.SetDocumentAccess(
            retriever_pb2.SetDocumentAccessRequest(tenant="t-acl", document_id="open", allowed_users=[""])
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_tenants_sparse_scores_do_not_move_when_another_tenant_adds_documents(backend, embed):
    """BM25's IDF is the tenant's own: nothing another tenant indexes changes (or reveals itself in) its scores."""
    stub, _ = backend
    await _index(stub, embed, "t-idf-owner")
    query = "how often must API keys be rotated"

    async def scores() -> list[tuple[str, float]]:
        hits = await _search(stub, embed, "t-idf-owner", query, top_k=3, mode=retriever_pb2.SEARCH_MODE_SPARSE)
        return [(h.chunk.document_id, round(h.score, 6)) for h in hits]

    before = await scores()
    assert before and before[0][0] == "rotation"
    texts = [
        f"Rotated API keys, note {i}: keys must be rotated; rotation of keys is often discussed." for i in range(40)
    ]
    vectors = await embed(*texts)
    noise = [
        retriever_pb2.Chunk(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"idf-noise/{i}")), document_id=f"n{i}", text=t, dense=v
        )
        for i, (t, v) in enumerate(zip(texts, vectors, strict=True))
    ]
    await stub.Upsert(retriever_pb2.UpsertRequest(tenant="t-idf-noise", chunks=noise))
    assert await scores() == before
    # Within the tenant the IDF does move: the same chunks score differently once common terms are common.
    await stub.Upsert(retriever_pb2.UpsertRequest(tenant="t-idf-owner", chunks=noise[:20]))
    after = dict(await scores())
    assert after.get("rotation") != dict(before)["rotation"]


async def test_an_index_from_before_per_tenant_idf_is_upgraded_at_start(tmp_path, embed):
    """A qdrant-edge shard written with the collection-wide IDF vector is re-encoded once, then searched as usual."""
    from qdrant_edge import (
        Distance,
        EdgeConfig,
        EdgeShard,
        EdgeSparseVectorParams,
        EdgeVectorParams,
        Modifier,
        Point,
        UpdateOperation,
    )

    from services.retriever.index import LexicalEncoder

    shard_path = tmp_path / "shard"
    shard_path.mkdir()
    legacy = EdgeConfig(
        vectors={"dense": EdgeVectorParams(size=384, distance=Distance.Cosine)},
        sparse_vectors={"bm25": EdgeSparseVectorParams(modifier=Modifier.Idf)},
    )
    shard = EdgeShard.create(str(shard_path), legacy)
    vectors = await embed(*(DOCS[name][1] for name in DOCS))
    lexical = LexicalEncoder()
    shard.update(
        UpdateOperation.upsert_points(
            [
                Point(
                    str(uuid.uuid5(uuid.NAMESPACE_URL, f"legacy/{name}")),
                    {"dense": vector, "bm25": lexical.document(f"{DOCS[name][0]}\n{DOCS[name][1]}")},
                    {"tenant": "t-legacy", "document_id": name, "title": DOCS[name][0], "text": DOCS[name][1]},
                )
                for name, vector in zip(DOCS, vectors, strict=True)
            ]
        )
    )
    shard.flush()
    shard.close()
    settings = RetrieverSettings(backend="edge", data_dir=tmp_path)
    async with running(create_server(settings)) as target, grpc.aio.insecure_channel(target) as channel:
        stub = retriever_pb2_grpc.RetrieverServiceStub(channel)
        hits = await _search(
            stub, embed, "t-legacy", "when did the volcano erupt", mode=retriever_pb2.SEARCH_MODE_SPARSE
        )
        assert hits[0].chunk.document_id == "volcano"
        # Chunks indexed before access lists existed stay open to the whole tenant.
        assert await _search(stub, embed, "t-legacy", "sourdough starter", viewer=retriever_pb2.Viewer(user="x"))
