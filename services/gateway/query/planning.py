"""Planning: what retrieval runs with. The caller's filters are checked; unless turned off, self-query reads more
from the question (the parser first, the LLM only for fields the question names that the parser could not fill)."""

import json
import logging
from dataclasses import dataclass

import grpc

from ragmesh.generator.v1 import generator_pb2
from ragmesh.ingest.v1 import ingest_pb2
from services.gateway.clients import Downstream
from services.gateway.config import GatewaySettings
from services.gateway.learning.prompts import Instructions
from services.gateway.models import FilterSpec, SelfQueryResult
from services.gateway.query.filters import explicit_filters, needs_schema
from services.gateway.query.timing import timed
from services.gateway.self_query import (
    FieldFilter,
    SchemaField,
    SelfQuery,
    SelfQueryParser,
    grounded,
    llm_task,
    schema_fields,
    validate_extracted,
)
from services.gateway.spending import Tab, tokens_at_most, usage_of
from services.runtime.errors import Unavailable
from services.runtime.telemetry import step

log = logging.getLogger(__name__)
_SELF_QUERY_TOKENS = 120


@dataclass
class Plan:
    """What retrieval runs with: the text searched and every filter, given or read from the question."""

    text: str
    filters: dict[str, FieldFilter]
    self_query: SelfQuery | None = None

    @property
    def applied(self) -> dict[str, dict[str, object]]:
        return {name: wanted.as_dict() for name, wanted in self.filters.items()}

    @property
    def self_query_result(self) -> SelfQueryResult | None:
        if self.self_query is None or not self.self_query.filters:
            return None
        return SelfQueryResult(
            filters=self.self_query.as_dict(), query=self.self_query.query, method=self.self_query.method
        )


class Planner:
    """Plans searches for any tenant; caches each tenant's schema as of its corpus version."""

    def __init__(
        self, settings: GatewaySettings, downstream: Downstream, instructions: Instructions | None = None
    ) -> None:
        self._settings = settings
        self._downstream = downstream
        self._instructions = instructions or Instructions()
        self._parser = SelfQueryParser()
        # A schema change bumps the corpus version too, so (tenant, version) identifies a schema.
        self._schemas: dict[str, tuple[str, list[SchemaField]]] = {}

    async def schema(self, tenant: str, version: str) -> list[SchemaField]:
        """The tenant's declared metadata fields with their known values, as of the corpus `version` ("": unknown,
        asked afresh); empty when it declares none."""
        cached = self._schemas.get(tenant)
        if version and cached and cached[0] == version:
            return cached[1]
        reply = await self._downstream.ingest.GetMetadataSchema(
            ingest_pb2.GetMetadataSchemaRequest(tenant=tenant), timeout=self._settings.retrieval_timeout_seconds
        )
        fields = schema_fields(reply)
        if version:
            self._schemas[tenant] = (version, fields)
        return fields

    async def plan(
        self,
        tab: Tab,
        question: str,
        filters: FilterSpec,
        self_query: bool,
        timings: dict[str, float],
        llm: bool | None = None,
        version: str = "",
    ) -> Plan:
        try:
            fields = await self.schema(tab.caller.tenant, version) if self_query or needs_schema(filters) else []
        except grpc.aio.AioRpcError as exc:
            if needs_schema(filters):
                raise Unavailable("the metadata schema is unavailable; attribute filters cannot be checked") from exc
            log.warning("metadata schema unavailable (%s); answering without self-query", exc.code().name)
            fields = []
        given = explicit_filters(filters, fields)
        if not self_query or not fields:
            return Plan(text=question, filters=given)
        with step("gateway", "self_query") as span:
            extracted, unresolved = self._parser.parse(question, fields)
            span.set_attribute("self_query.fields", sorted(extracted.filters))
        extracted.filters = {name: f for name, f in extracted.filters.items() if name not in given}
        unresolved = [spec for spec in unresolved if spec.name not in given]
        if unresolved and (self._settings.self_query_llm if llm is None else llm):
            with timed(timings, "self_query_llm"):
                added = await self._llm_filters(question, unresolved, tab)
            added = {name: f for name, f in added.items() if name not in extracted.filters}
            if added:
                extracted.filters.update(added)
                extracted.method = "parser+llm"
        plan = Plan(text=extracted.query if extracted.filters else question, filters={**extracted.filters, **given})
        plan.self_query = extracted
        return plan

    async def _llm_filters(self, question: str, fields: list[SchemaField], tab: Tab) -> dict[str, FieldFilter]:
        """Filters on `fields` from the generator's Extract (JSON held to a schema built from the tenant's), then
        validated again here; nothing when the generator fails or the budget has no room for the call: the
        parser's filters stand alone."""
        task = llm_task(fields)
        if not task.schema["properties"]:
            return {}
        prompt = tokens_at_most(task.instruction, question, *(t + j for t, j in task.examples))
        charge = await tab.reserve_optional("self_query", prompt, _SELF_QUERY_TOKENS)
        if charge is None:
            return {}
        reply = None
        instruction = await self._instructions.of(tab.caller, "self_query", task.instruction)
        try:
            reply = await self._downstream.generator.Extract(
                generator_pb2.ExtractRequest(
                    role="self_query",
                    instruction=instruction,
                    text=question,
                    json_schema=json.dumps(task.schema),
                    examples=[generator_pb2.ExtractExample(text=t, json=j) for t, j in task.examples],
                    max_tokens=_SELF_QUERY_TOKENS,
                ),
                timeout=self._settings.self_query_llm_timeout_seconds,
            )
            return grounded(validate_extracted(json.loads(reply.json), fields), question)
        except (grpc.aio.AioRpcError, ValueError) as exc:
            log.warning("self-query LLM unavailable (%s); using the parser's filters", exc)
            return {}
        finally:
            await tab.settle(charge, usage_of(reply.usage) if reply is not None else None, reply.model if reply else "")
