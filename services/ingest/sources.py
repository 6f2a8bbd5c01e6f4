"""The URLs each tenant ingests from, with the validators of their last fetch, so that a recrawl asks each host only
for what changed, and when each is next due."""

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from services.ingest.catalog import now
from services.ingest.records.database import Database
from services.ingest.records.models import Source


@dataclass(frozen=True)
class Known:
    url: str
    document_id: str
    etag: str
    last_modified: str
    request: dict[str, object]


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def url_document_id(tenant: str, url: str) -> str:
    """The id of a document fetched from a URL sent without one: a page that changes stays one document."""
    return "url_" + hashlib.sha256(f"{tenant}\x1f{url}".encode()).hexdigest()[:24]


class Sources:
    def __init__(self, database: Database, recrawl_hours: float) -> None:
        self.database = database
        self._recrawl = timedelta(hours=recrawl_hours) if recrawl_hours else None

    async def get(self, tenant: str, url: str) -> Known | None:
        async with self.database.reading() as session:
            row = await session.get(Source, (tenant, url_hash(url)))
            return Known(row.url, row.document_id, row.etag, row.last_modified, dict(row.request)) if row else None

    async def fetched(
        self, tenant: str, url: str, document_id: str, etag: str, last_modified: str, request: dict[str, object]
    ) -> None:
        """Record a fetch (a changed page's new validators, or an unchanged one's old) and when it is next due."""
        at = now()
        async with self.database.session() as session:
            row = await session.get(Source, (tenant, url_hash(url)))
            if row is None:
                row = Source(tenant=tenant, url_hash=url_hash(url), url=url)
                session.add(row)
            row.document_id, row.etag, row.last_modified, row.request = document_id, etag, last_modified, request
            row.fetched_at, row.next_due_at = at, (at + self._recrawl) if self._recrawl else None

    async def claim_due(self, limit: int = 500) -> dict[str, list[Known]]:
        """Sources whose recrawl is due, by tenant, pushed one period on (so that no other replica takes them)."""
        at = now()
        async with self.database.session() as session:
            rows = list(
                await session.scalars(
                    select(Source)
                    .where(Source.next_due_at.is_not(None), Source.next_due_at <= at)
                    .order_by(Source.next_due_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            due: dict[str, list[Known]] = {}
            for row in rows:
                due.setdefault(row.tenant, []).append(
                    Known(row.url, row.document_id, row.etag, row.last_modified, dict(row.request))
                )
            if rows and self._recrawl:
                await session.execute(
                    update(Source)
                    .where(Source.url_hash.in_([row.url_hash for row in rows]))
                    .values(next_due_at=at + self._recrawl)
                )
        return due
