"""Questions about the collection, answered: recognised by rule (parser.py), the plan checked against the tenant's
schema here and again by the ingest service that runs it over its catalogue, and the table put in words and chart
data. Only the documents the caller may see are counted."""

import logging

import grpc

from ragmesh.ingest.v1 import ingest_pb2
from services.gateway.clients import Downstream
from services.gateway.collection.parser import CollectionQuestionParser
from services.gateway.collection_models import Chart, CollectionAnswer, Series
from services.gateway.config import GatewaySettings
from services.gateway.identity import Principal
from services.gateway.query.planning import Planner
from services.runtime.collection_plans import CollectionPlan, check_plan
from services.runtime.telemetry import step

log = logging.getLogger(__name__)
_SHOWN = 10


def chart_of(columns: list[str], rows: list[list[str | int]]) -> Chart:
    keys = columns[:-1]
    if not keys:
        return Chart(kind="number", series=[Series(name="documents", values=[int(rows[0][0]) if rows else 0])])
    if len(keys) == 2:
        return Chart(kind="table")
    labels = [str(row[0]) for row in rows]
    kind = "line" if keys[0].startswith("ingested_") else "bar"
    return Chart(kind=kind, labels=labels, series=[Series(name="documents", values=[int(row[-1]) for row in rows])])


def in_words(columns: list[str], rows: list[list[str | int]], matched: int, groups: int) -> str:
    keys = columns[:-1]
    noun = "document" if matched == 1 else "documents"
    if not keys:
        return f"{matched} {noun}."
    shown = ", ".join(f"{' / '.join(str(k) for k in row[:-1])}: {row[-1]}" for row in rows[:_SHOWN])
    more = f" and {groups - _SHOWN} more" if groups > _SHOWN else ""
    return f"{matched} {noun} by {' and '.join(keys)}: {shown}{more}."


class CollectionAnswers:
    """Recognises and answers collection questions for any caller."""

    def __init__(self, settings: GatewaySettings, downstream: Downstream, planner: Planner) -> None:
        self._settings = settings
        self._downstream = downstream
        self._planner = planner

    async def recognise(self, caller: Principal, question: str, version: str = "") -> CollectionPlan | None:
        """The plan a question about the collection asks for; None for a question about the documents' contents
        (or when the schema cannot be read: then retrieval answers, as it would have)."""
        try:
            fields = await self._planner.schema(caller.tenant, version)
        except grpc.aio.AioRpcError as exc:
            log.warning("metadata schema unavailable (%s); not reading collection questions", exc.code().name)
            return None
        with step("gateway", "collection_question") as span:
            # A parser per question: "since May" is read against today's date.
            plan = CollectionQuestionParser().plan(question, fields)
            span.set_attribute("collection.recognised", plan is not None)
        return plan

    async def run(
        self, caller: Principal, plan: CollectionPlan, question: str = "", version: str = ""
    ) -> CollectionAnswer:
        """The plan's table, checked against the schema first (InvalidArgument naming the problem)."""
        fields = await self._planner.schema(caller.tenant, version)
        check_plan(plan, {f.name: f.type for f in fields})
        with step("gateway", "collection_count"):
            reply = await self._downstream.ingest.AggregateDocuments(
                ingest_pb2.AggregateDocumentsRequest(
                    tenant=caller.tenant, viewer=caller.viewer_message(), plan_json=plan.model_dump_json()
                ),
                timeout=self._settings.retrieval_timeout_seconds,
            )
        columns = list(reply.columns)
        rows: list[list[str | int]] = [[*row.keys, int(row.documents)] for row in reply.rows]
        if not plan.group_by:
            rows = [[int(reply.matched)]]
        return CollectionAnswer(
            question=question,
            plan=plan,
            columns=columns,
            rows=rows,
            matched=reply.matched,
            groups=reply.groups,
            chart=chart_of(columns, rows),
            answer=in_words(columns, rows, int(reply.matched), int(reply.groups)),
        )
