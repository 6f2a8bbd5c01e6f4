"""/v1/admin/quarantine and /v1/admin/ingest-audit: documents refused or held at ingest, the decision on a held
one (release or delete, both audited), and the ingest service's audit log; the admin scope only."""

from typing import Annotated

from fastapi import APIRouter, Path, Query
from google.protobuf import json_format

from ragmesh.ingest.v1 import ingest_pb2
from services.gateway.admin_models import IngestAuditEntry, IngestAuditList, QuarantineEntry, QuarantineList
from services.gateway.audit import actor
from services.gateway.deps import AdminCaller, ClientsDep
from services.gateway.document_models import IngestResponse
from services.gateway.routes import problems
from services.gateway.routes.documents import ingest_response

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=problems(400, 401, 403, 422))
EntryId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The quarantine entry's id.")]


@router.get("/quarantine", response_model=QuarantineList)
async def list_quarantine(
    caller: AdminCaller,
    clients: ClientsDep,
    kind: Annotated[str, Query(pattern="^(refused|held)?$", description="refused, held, or empty for both.")] = "",
) -> QuarantineList:
    """Documents refused (unreadable, over a limit) or held back (they read like a prompt injection), oldest first,
    each with the reason."""
    reply = await clients.ingest.ListQuarantine(
        ingest_pb2.ListQuarantineRequest(tenant=caller.tenant, kind=kind), timeout=30
    )
    return QuarantineList(
        entries=[
            QuarantineEntry(
                id=e.id,
                at=e.at,
                filename=e.filename,
                content_type=e.content_type,
                size_bytes=e.size_bytes,
                reason=e.reason,
                kind=e.kind,  # type: ignore[arg-type]
                document_id=e.document_id,
            )
            for e in reply.entries
        ]
    )


@router.post(
    "/quarantine/{entry_id}/release",
    response_model=IngestResponse,
    response_model_exclude_none=True,
    responses=problems(404, 409),
)
async def release_quarantined(entry_id: EntryId, caller: AdminCaller, clients: ClientsDep) -> IngestResponse:
    """Ingest a held document exactly as it was sent (you judged it safe); the ingest audit log records who."""
    reply = await clients.ingest.ReleaseQuarantined(
        ingest_pb2.QuarantineActionRequest(tenant=caller.tenant, entry_id=entry_id, actor=actor(caller)), timeout=600
    )
    return ingest_response(reply)


@router.delete("/quarantine/{entry_id}", status_code=204, responses=problems(404))
async def delete_quarantined(entry_id: EntryId, caller: AdminCaller, clients: ClientsDep) -> None:
    """Drop a quarantine entry and its stored bytes; the ingest audit log records who."""
    await clients.ingest.DeleteQuarantined(
        ingest_pb2.QuarantineActionRequest(tenant=caller.tenant, entry_id=entry_id, actor=actor(caller)), timeout=30
    )


@router.get("/ingest-audit", response_model=IngestAuditList)
async def ingest_audit(
    caller: AdminCaller,
    clients: ClientsDep,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="Entries with an id above this.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> IngestAuditList:
    """The ingest audit log, oldest first: every ingest, replace, delete, hold, release and raw-document read, with
    who and when. Page with `after`."""
    reply = await clients.ingest.ListAudit(
        ingest_pb2.ListAuditRequest(tenant=caller.tenant, after=after, limit=limit), timeout=30
    )
    entries = [
        IngestAuditEntry(
            id=e.id,
            at=e.at,
            document_id=e.document_id,
            action=e.action,
            actor=e.actor,
            detail=json_format.MessageToDict(e.detail),
        )
        for e in reply.entries
    ]
    return IngestAuditList(entries=entries, next_after=entries[-1].id if entries else 0)
