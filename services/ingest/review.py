"""Decisions on documents kept out of the index at ingest: a document that reads like a prompt injection is held
(its bytes and what it was sent with kept, in quarantine, out of answers) until an administrator releases it
(ingested exactly as sent) or deletes it; both decisions are audited with who made them."""

from typing import TYPE_CHECKING

from services.ingest.artifacts import held_key
from services.ingest.inputs import IngestInput, IngestResult
from services.ingest.quarantine import HELD
from services.runtime.errors import FailedPrecondition, NotFound

if TYPE_CHECKING:
    from services.ingest.pipeline import Ingestor


async def hold(
    ingestor: "Ingestor", item: IngestInput, document_id: str, content_type: str, reason: str
) -> IngestResult:
    """Keep the document out of the index, with its bytes and what it was sent with, until an admin decides."""
    key = held_key(item.tenant)
    await ingestor.store.put(key, item.content, {"name": item.filename, "reason": reason[:500]})
    request = {**item.request(), "document_id": document_id, "content_type": content_type}
    entry = await ingestor.quarantine.add(
        item.tenant,
        item.filename,
        content_type,
        len(item.content),
        reason,
        kind=HELD,
        document_id=document_id,
        artifact_key=key,
        request=request,
    )
    await ingestor.catalog.record(
        item.tenant, document_id, "held", {"quarantine_entry": entry, "reason": reason}, actor=item.actor
    )
    return IngestResult(document_id, 0, "held", reason=reason)


async def release(ingestor: "Ingestor", tenant: str, entry_id: int, actor: str) -> IngestResult:
    """Ingest a held document exactly as it was sent (an administrator judged it safe); audited."""
    entry = await ingestor.quarantine.get(tenant, entry_id)
    if entry.kind != HELD:
        raise FailedPrecondition(f"quarantine entry {entry_id} was refused ({entry.reason}); only held ones go in")
    try:
        content = await ingestor.store.get(entry.artifact_key)
    except FileNotFoundError:
        raise FailedPrecondition(
            f"the bytes of quarantine entry {entry_id} are gone; send the document again"
        ) from None
    result = await ingestor.ingest(IngestInput(**entry.request, content=content, released=True))  # type: ignore[arg-type]
    await ingestor.quarantine.remove(tenant, entry_id)
    await ingestor.store.delete(entry.artifact_key)
    detail = {"quarantine_entry": entry_id, "reason": entry.reason, "status": result.status}
    await ingestor.catalog.record(tenant, result.document_id, "released", detail, actor=actor)
    return result


async def drop(ingestor: "Ingestor", tenant: str, entry_id: int, actor: str) -> None:
    """Delete a quarantine entry and its bytes; audited."""
    entry = await ingestor.quarantine.get(tenant, entry_id)
    if not await ingestor.quarantine.remove(tenant, entry_id):
        raise NotFound(f"quarantine entry {entry_id} not found")
    if entry.artifact_key:
        await ingestor.store.delete(entry.artifact_key)
    detail = {"quarantine_entry": entry_id, "filename": entry.filename, "reason": entry.reason}
    await ingestor.catalog.record(tenant, entry.document_id, "quarantine-deleted", detail, actor=actor)
