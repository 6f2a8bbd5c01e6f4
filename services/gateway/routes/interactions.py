"""GET /v1/admin/interactions/export: the tenant's answers with their feedback and labels as JSON lines (the admin
scope): a dataset snapshot, stored as a versioned file by `ragmesh export`."""

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from services.gateway.deps import AdminCaller, ServiceDep
from services.gateway.routes import problems
from services.gateway.routes.usage import Since, Until, period

router = APIRouter(prefix="/v1/admin/interactions", tags=["admin"], responses=problems(400, 401, 403, 422))


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "One answer a line, oldest first."}},
)
async def export_interactions(
    caller: AdminCaller, service: ServiceDep, since: Since = None, until: Until = None, labelled_only: bool = False
) -> StreamingResponse:
    """Answers in [since, until) (default: today so far), each with its feedback and label. The window's end is in
    X-Ragmesh-Snapshot-Until: asking again with the same window gives the same answers."""
    start, end = period(since, until)
    rows = service.interactions.snapshot(caller.tenant, start, end, labelled_only)

    async def lines() -> AsyncIterator[bytes]:
        async for row in rows:
            yield (json.dumps(row, sort_keys=True) + "\n").encode()

    headers = {"X-Ragmesh-Snapshot-Until": end.isoformat()}
    return StreamingResponse(lines(), media_type="application/x-ndjson", headers=headers)
