"""The catalogue as versions before the SQL records kept it (`catalog.sqlite3` in the data dir, written by hand with
sqlite3), imported once into the ingest database at start, so that an upgrade loses no document, schema, audit
entry, quarantine entry or near-duplicate signature. Audit entries keep their ids: each tenant's corpus version
(its newest audit id) never goes back to one a cache may still hold. The file is then renamed `.imported`."""

import asyncio
import contextlib
import json
import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, text

from services.ingest.catalog import attribute_values
from services.ingest.records.database import Database
from services.ingest.records.models import (
    AuditEntry,
    Document,
    DocumentAttribute,
    DocumentReader,
    MetadataSchema,
    QuarantineEntry,
    Signature,
    SignatureBand,
)
from services.runtime.access import access_entries

log = logging.getLogger(__name__)


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _read(path: Path) -> dict[str, list[sqlite3.Row]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.row_factory = sqlite3.Row
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        wanted = ["documents", "metadata_schemas", "audit", "signatures", "signature_bands", "quarantine"]
        return {name: db.execute(f"SELECT * FROM {name}").fetchall() for name in wanted if name in tables}


async def import_legacy(data_dir: Path, database: Database) -> int:
    """Import `data_dir/catalog.sqlite3` when it is there and not yet imported; how many documents came in."""
    path = Path(data_dir) / "catalog.sqlite3"
    if not path.exists():
        return 0
    async with database.reading() as session:
        if await session.scalar(select(func.count()).select_from(Document)):
            log.warning("%s is there but the ingest database already holds documents; not importing it", path)
            return 0
    rows = await asyncio.to_thread(_read, path)
    async with database.session() as session:
        for row in rows.get("documents", []):
            keys = row.keys()
            attributes = json.loads(row["attributes"]) if "attributes" in keys else {}
            users = json.loads(row["allowed_users"]) if "allowed_users" in keys else []
            groups = json.loads(row["allowed_groups"]) if "allowed_groups" in keys else []
            tenant, document_id = row["tenant"], row["document_id"]
            session.add(
                Document(
                    tenant=tenant,
                    document_id=document_id,
                    filename=row["filename"],
                    content_type=row["content_type"],
                    title=row["title"],
                    source=row["source"],
                    tags=json.loads(row["tags"]),
                    licence=row["licence"],
                    chunk_count=row["chunk_count"],
                    size_bytes=row["size_bytes"],
                    content_hash=row["content_hash"],
                    # Not recorded then: the index may hold any revision of it until it is ingested again.
                    revision="",
                    attributes=attributes,
                    allowed_users=users,
                    allowed_groups=groups,
                    created_at=_moment(row["created_at"]),
                    updated_at=_moment(row["updated_at"]),
                )
            )
            session.add_all(
                DocumentReader(tenant=tenant, document_id=document_id, entry=entry)
                for entry in access_entries(users, groups)
            )
            session.add_all(
                DocumentAttribute(tenant=tenant, document_id=document_id, name=name, value=value)
                for name, value in attribute_values(attributes)
            )
        for row in rows.get("metadata_schemas", []):
            session.add(
                MetadataSchema(
                    tenant=row["tenant"], fields=json.loads(row["fields"]), updated_at=_moment(row["updated_at"])
                )
            )
        for row in rows.get("audit", []):
            session.add(
                AuditEntry(
                    id=row["id"],
                    at=_moment(row["at"]),
                    tenant=row["tenant"],
                    document_id=row["document_id"],
                    action=row["action"],
                    actor="",
                    detail=json.loads(row["detail"]),
                )
            )
        for row in rows.get("signatures", []):
            session.add(Signature(tenant=row["tenant"], document_id=row["document_id"], minhash=bytes(row["minhash"])))
        for row in rows.get("signature_bands", []):
            session.add(SignatureBand(tenant=row["tenant"], band=row["band"], document_id=row["document_id"]))
        for row in rows.get("quarantine", []):
            session.add(
                QuarantineEntry(
                    at=_moment(row["at"]),
                    tenant=row["tenant"],
                    filename=row["filename"],
                    content_type=row["content_type"],
                    size_bytes=row["size_bytes"],
                    reason=row["reason"],
                    kind="refused",
                    document_id="",
                    artifact_key="",
                    request={},
                )
            )
        await session.flush()
        if database.dialect == "postgresql" and rows.get("audit"):
            # Explicit ids do not move the sequence: the next entry must come after the imported ones.
            await session.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('audit_entries', 'id'), (SELECT MAX(id) FROM audit_entries))"
                )
            )
    path.rename(path.with_name(path.name + ".imported"))
    imported = len(rows.get("documents", []))
    log.info("imported %d documents and %d audit entries from %s", imported, len(rows.get("audit", [])), path)
    return imported
