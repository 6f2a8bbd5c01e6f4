"""Retraining a tenant's query-side adapter from its verified labels, behind the regression gate.

A request starts a job (at least `least_labels` labelled answers with their question text); the job embeds the
questions and the passages the reviewers judged, splits by question (learning/adapter.py split_labels), trains, and
evaluates through the real retriever: on the new test split and on the test split of the version served now, nDCG@10
of the served model against the candidate over the tenant's documents. A candidate more than 2% worse on either is
recorded as rejected and never served; one that passes is ready to serve (adapters.py). Each version, passed or
rejected, is stored as a versioned artifact (learning/artifacts.py: matrix, data snapshot, scores, gate decision)
before its record says how it ended; a store that cannot be written fails the version. Progress is on the version."""

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc
import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from ragmesh.embedder.v1 import embedder_pb2
from ragmesh.retriever.v1 import retriever_pb2
from services.gateway.clients import Downstream
from services.gateway.learning.adapter import Example, adapt, split_labels, train
from services.gateway.learning.adapters import adapter_info, adapter_matrix
from services.gateway.learning.artifacts import STORE_ERRORS, AdapterArtifacts, SnapshotRow, artifact_prefix
from services.gateway.learning.gate import decide, ndcg_at_10
from services.gateway.learning.vectors import embed_passages
from services.gateway.learning_models import AdapterInfo
from services.gateway.records.database import Database
from services.gateway.records.models import AdapterRecord, Interaction, Label
from services.runtime.errors import FailedPrecondition
from services.runtime.passages import embedding_text

log = logging.getLogger(__name__)


@dataclass
class Labelled:
    """One labelled answer as training sees it."""

    answer_id: str
    question: str
    relevant_documents: set[str]
    relevant_texts: list[str] = field(default_factory=list)
    other_texts: list[str] = field(default_factory=list)


def labelled(interaction: Interaction, label: Label) -> Labelled | None:
    if not interaction.question or not label.relevant:
        return None
    refs = {(ref["document_id"], ref["chunk_index"]) for ref in label.relevant}
    # Passages as the index embedded them (title and headings above the text), so that the adapter learns to
    # reach the vectors search compares with.
    shown = [
        ((p["document_id"], p["chunk_index"]), embedding_text(p["text"], p.get("title", ""), p.get("heading_path", [])))
        for p in interaction.passages
        if p.get("text")
    ]
    return Labelled(
        interaction.id,
        interaction.question,
        {ref[0] for ref in refs},
        [text for ref, text in shown if ref in refs],
        [text for ref, text in shown if ref not in refs],
    )


class Retraining:
    """Starts and runs training jobs for any tenant."""

    def __init__(
        self,
        database: Database,
        downstream: Downstream,
        artifacts: AdapterArtifacts,
        least_labels: int,
        timeout: float,
    ) -> None:
        self._db = database
        self._artifacts = artifacts
        self._downstream = downstream
        self._least = least_labels
        self._timeout = timeout

    async def start(self, tenant: str, actor: str) -> AdapterInfo:
        examples = await self.labelled_examples(tenant)
        if len(examples) < self._least:
            raise FailedPrecondition(
                f"{len(examples)} labelled answers with their question and a relevant passage; training needs "
                f"{self._least} (review more in /v1/admin/reviews)"
            )
        async with self._db.session() as session:
            newest = await session.scalar(select(func.max(AdapterRecord.version)).where(AdapterRecord.tenant == tenant))
            row = AdapterRecord(
                tenant=tenant,
                version=(newest or 0) + 1,
                status="training",
                progress="queued",
                matrix=b"",
                dimension=0,
                model="",
                splits={},
                snapshot=hashlib.sha256(",".join(sorted(e.answer_id for e in examples)).encode()).hexdigest(),
                scores={},
                reasons=[],
                share=0.0,
                created_at=datetime.now(UTC),
                created_by=actor,
            )
            session.add(row)
            info = adapter_info(row)
        self._downstream.background.spawn(self._run(tenant, info, examples))
        return info

    async def labelled_examples(self, tenant: str) -> list[Labelled]:
        async with self._db.session() as session:
            rows = await session.execute(
                select(Interaction, Label).join(Label, Label.answer_id == Interaction.id).where(Label.tenant == tenant)
            )
            found = [labelled(interaction, label) for interaction, label in rows]
        return [example for example in found if example is not None]

    async def _progress(self, tenant: str, version: int, **values: object) -> None:
        async with self._db.session() as session:
            row = await session.get(AdapterRecord, (tenant, version))
            for name, value in values.items():
                setattr(row, name, value)

    async def _run(self, tenant: str, info: AdapterInfo, examples: list[Labelled]) -> None:
        version = info.version
        try:
            await self._train(tenant, info, examples)
        except (grpc.aio.AioRpcError, SQLAlchemyError, ValueError, *STORE_ERRORS) as exc:
            log.exception("adapter %s v%d failed", tenant, version)
            await self._progress(
                tenant, version, status="failed", progress=f"failed: {type(exc).__name__}: {exc}"[:200]
            )

    async def _train(self, tenant: str, info: AdapterInfo, examples: list[Labelled]) -> None:
        version = info.version
        by_id = {e.answer_id: e for e in examples}
        learned, validation, test = split_labels({e.answer_id: e.relevant_documents for e in examples}, seed=version)
        await self._progress(tenant, version, progress=f"embedding {len(examples)} questions and their passages")
        questions = await self.embed_questions([e.question for e in examples])
        vectors = dict(zip(by_id, questions, strict=True))
        texts = sorted({t for e in examples for t in e.relevant_texts + e.other_texts})
        passages, model = await embed_passages(self._downstream.embedder, texts, self._timeout)
        passage = dict(zip(texts, passages, strict=True))

        def made(ids: list[str]) -> list[Example]:
            return [
                Example(
                    vectors[i],
                    passage[text],
                    np.asarray([passage[t] for t in by_id[i].other_texts]).reshape(-1, passages.shape[1]),
                )
                for i in ids
                for text in by_id[i].relevant_texts
            ]

        await self._progress(tenant, version, progress="training")
        trained = await asyncio.to_thread(train, made(learned), made(validation))
        await self._progress(tenant, version, progress="evaluating at the gate")
        serving = await self._serving(tenant)
        served = adapter_matrix(serving)
        # The test split as it is now, kept with the version: a later version is judged on it as it was labelled,
        # whatever happens to those labels afterwards.
        kept = [
            {"answer_id": i, "question": by_id[i].question, "relevant": sorted(by_id[i].relevant_documents)}
            for i in test
        ]
        sets = {"test split": kept}
        if serving and serving.splits.get("test"):
            sets["previous test split"] = list(serving.splits["test"])
        scores: dict[str, tuple[float, float]] = {}
        for name, cases in sets.items():
            if cases:
                asked = await self.embed_questions([case["question"] for case in cases])
                wanted = [set(case["relevant"]) for case in cases]
                scores[name] = (
                    await self.ndcg(tenant, served, asked, wanted),
                    await self.ndcg(tenant, trained.matrix, asked, wanted),
                )
        decision = decide(scores)
        splits = {"train": learned, "validation": validation, "test": test}
        judged = {name: {"served": s, "candidate": c} for name, (s, c) in scores.items()}
        await self._progress(tenant, version, progress="storing the artifact")
        await self._artifacts.write(
            tenant,
            version,
            trained.matrix,
            [
                SnapshotRow(i, split, by_id[i].question, sorted(by_id[i].relevant_documents), by_id[i].relevant_texts)
                for split, ids in splits.items()
                for i in ids
            ],
            {
                "kind": "query-side adapter",
                "model": model,
                "dimension": int(trained.matrix.shape[0]),
                "epochs": trained.epochs,
                "snapshot": info.snapshot,
                "splits": {name: len(ids) for name, ids in splits.items()},
                "scores": judged,
                "gate": {"passed": decision.passed, "reasons": decision.reasons},
                "judged_against": serving.version if serving else None,
                "created_at": info.created_at,
                "created_by": info.created_by,
            },
        )
        await self._progress(
            tenant,
            version,
            status="ready" if decision.passed else "rejected",
            progress=f"done: {trained.epochs} epochs",
            matrix=trained.matrix.tobytes(),
            dimension=int(trained.matrix.shape[0]),
            model=model,
            splits={"train": learned, "validation": validation, "test": kept},
            scores=judged,
            reasons=decision.reasons,
            artifact=artifact_prefix(tenant, version),
        )

    async def embed_questions(self, questions: list[str]) -> np.ndarray:
        kind = embedder_pb2.INPUT_KIND_QUERY
        return (await embed_passages(self._downstream.embedder, questions, self._timeout, kind))[0]

    async def _serving(self, tenant: str) -> AdapterRecord | None:
        async with self._db.session() as session:
            return await session.scalar(
                select(AdapterRecord).where(AdapterRecord.tenant == tenant, AdapterRecord.status == "serving")
            )

    async def ndcg(
        self, tenant: str, matrix: np.ndarray | None, questions: list[np.ndarray], relevant: list[set[str]]
    ) -> float:
        """Mean nDCG@10 over documents of dense search in the tenant's index, questions through `matrix`."""
        total = 0.0
        for vector, wanted in zip(questions, relevant, strict=True):
            found = await self._downstream.retriever.Search(
                retriever_pb2.SearchRequest(
                    tenant=tenant,
                    dense=adapt(matrix, vector.tolist()),
                    top_k=30,
                    mode=retriever_pb2.SEARCH_MODE_DENSE,
                    viewer=retriever_pb2.Viewer(everything=True),
                ),
                timeout=self._timeout,
            )
            ranked = list(dict.fromkeys(hit.chunk.document_id for hit in found.hits))
            total += ndcg_at_10(ranked, wanted)
        return total / len(questions)
