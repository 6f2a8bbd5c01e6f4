"""The gateway's audit log: key changes and requests made on another tenant's behalf, in SQL."""

from datetime import UTC, datetime

from sqlalchemy import select

from services.gateway.identity import Principal
from services.gateway.records.database import Database
from services.gateway.records.models import AuditEvent


def actor(caller: Principal) -> str:
    """Who acted, as the audit log writes it: tenant, then user or key."""
    who = caller.user or (f"key:{caller.key_id}" if caller.key_id else caller.via)
    return f"{caller.tenant}/{who}"


class AuditLog:
    """Appends events and reads them back, newest first."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def record(self, tenant: str, caller: Principal, action: str, detail: str = "") -> None:
        async with self._db.session() as session:
            session.add(
                AuditEvent(at=datetime.now(UTC), tenant=tenant, actor=actor(caller), action=action, detail=detail)
            )

    async def events(self, tenant: str, limit: int = 100) -> list[AuditEvent]:
        query = select(AuditEvent).where(AuditEvent.tenant == tenant).order_by(AuditEvent.id.desc()).limit(limit)
        async with self._db.session() as session:
            return list((await session.scalars(query)).all())
