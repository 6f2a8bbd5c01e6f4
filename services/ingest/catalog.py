"""The document catalogue, the append-only audit log and the quarantine list, in one SQLite file.

SQLite gives atomic, durable commits on one node; raw artifacts sit beside it as files.
"""

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.ingest.duplicates import Fingerprint
from services.ingest.metrics import QUARANTINED
from services.ingest.schema import FieldSpec
from services.runtime.access import Viewer

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    tenant TEXT NOT NULL,
    document_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    tags TEXT NOT NULL,
    licence TEXT NOT NULL,
    chunk_count INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant, document_id)
);
CREATE TABLE IF NOT EXISTS metadata_schemas (
    tenant TEXT PRIMARY KEY,
    fields TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    tenant TEXT NOT NULL,
    document_id TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_tenant_id ON audit (tenant, id);
CREATE TABLE IF NOT EXISTS signatures (
    tenant TEXT NOT NULL,
    document_id TEXT NOT NULL,
    minhash BLOB NOT NULL,
    PRIMARY KEY (tenant, document_id)
);
CREATE TABLE IF NOT EXISTS signature_bands (
    tenant TEXT NOT NULL,
    band TEXT NOT NULL,
    document_id TEXT NOT NULL,
    PRIMARY KEY (tenant, band, document_id)
);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    tenant TEXT NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    reason TEXT NOT NULL
);
"""


def now(days_ago: float = 0) -> str:
    """The time (or `days_ago` days before it) as stored: ISO 8601 in UTC, to the millisecond, sortable as text."""
    at = datetime.now(UTC) - timedelta(days=days_ago)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class DocumentRecord:
    tenant: str
    document_id: str
    filename: str
    content_type: str
    title: str
    source: str
    tags: list[str] = field(default_factory=list)
    licence: str = ""
    chunk_count: int = 0
    size_bytes: int = 0
    content_hash: str = ""
    created_at: str = ""
    updated_at: str = ""
    # Values of the tenant's declared metadata fields.
    attributes: dict[str, object] = field(default_factory=dict)
    # Who may see the document inside its tenant; both empty: the whole tenant.
    allowed_users: list[str] = field(default_factory=list)
    allowed_groups: list[str] = field(default_factory=list)


_COLUMNS = list(DocumentRecord.__dataclass_fields__)
_UPSERT_DOCUMENT = f"INSERT OR REPLACE INTO documents ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


def _row(row: sqlite3.Row) -> DocumentRecord:
    values = dict(row)
    values["tags"] = json.loads(values["tags"])
    for name in ("attributes", "allowed_users", "allowed_groups"):
        values[name] = json.loads(values[name])
    return DocumentRecord(**values)


# Documents a reader may see: open to the whole tenant, or naming the reader or one of the reader's groups.
_VISIBLE = """(
    (allowed_users = '[]' AND allowed_groups = '[]')
    OR EXISTS (SELECT 1 FROM json_each(documents.allowed_users) WHERE value = ?)
    OR EXISTS (SELECT 1 FROM json_each(documents.allowed_groups) WHERE value IN (SELECT value FROM json_each(?)))
)"""


def _visible(viewer: Viewer) -> tuple[str, list[object]]:
    if viewer.everything:
        return "1", []
    return _VISIBLE, [viewer.user or None, json.dumps(list(viewer.groups))]


class Catalog:
    """Documents per tenant. Every write commits before it returns."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {row["name"] for row in self._db.execute("PRAGMA table_info(documents)")}
        # Catalogues written before these columns existed gain them, empty (open to the tenant) for every document.
        for name, empty in (("attributes", "{}"), ("allowed_users", "[]"), ("allowed_groups", "[]")):
            if name not in columns:
                self._db.execute(f"ALTER TABLE documents ADD COLUMN {name} TEXT NOT NULL DEFAULT '{empty}'")
        self._lock = threading.Lock()
        QUARANTINED.set(self._quarantine_size())

    def get(self, tenant: str, document_id: str) -> DocumentRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM documents WHERE tenant = ? AND document_id = ?", (tenant, document_id)
            ).fetchone()
        return _row(row) if row else None

    def page(self, tenant: str, limit: int, offset: int, viewer: Viewer) -> tuple[list[DocumentRecord], int]:
        """The documents the viewer may see, oldest first, and how many there are."""
        visible, parameters = _visible(viewer)
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM documents WHERE tenant = ? AND {visible} "
                "ORDER BY created_at, document_id LIMIT ? OFFSET ?",
                (tenant, *parameters, limit, offset),
            ).fetchall()
            total = self._db.execute(
                f"SELECT COUNT(*) FROM documents WHERE tenant = ? AND {visible}", (tenant, *parameters)
            ).fetchone()[0]
        return [_row(row) for row in rows], int(total)

    def save(
        self, record: DocumentRecord, action: str, detail: dict[str, object], fingerprint: Fingerprint | None = None
    ) -> None:
        """Insert or replace the record (and its near-duplicate fingerprint, when given) and append the audit entry,
        in one transaction."""
        values = {
            **record.__dict__,
            "tags": json.dumps(record.tags),
            "attributes": json.dumps(record.attributes, sort_keys=True),
            "allowed_users": json.dumps(sorted(set(record.allowed_users))),
            "allowed_groups": json.dumps(sorted(set(record.allowed_groups))),
        }
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    _UPSERT_DOCUMENT,
                    [values[name] for name in _COLUMNS],
                )
                if fingerprint is not None:
                    self._forget_fingerprint(record.tenant, record.document_id)
                    self._db.execute(
                        "INSERT INTO signatures (tenant, document_id, minhash) VALUES (?, ?, ?)",
                        (record.tenant, record.document_id, fingerprint.signature),
                    )
                    self._db.executemany(
                        "INSERT INTO signature_bands (tenant, band, document_id) VALUES (?, ?, ?)",
                        [(record.tenant, band, record.document_id) for band in fingerprint.bands],
                    )
                self._audit(record.tenant, record.document_id, action, detail)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def delete(self, tenant: str, document_id: str, detail: dict[str, object]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM documents WHERE tenant = ? AND document_id = ?", (tenant, document_id))
                self._forget_fingerprint(tenant, document_id)
                self._audit(tenant, document_id, "deleted", detail)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _forget_fingerprint(self, tenant: str, document_id: str) -> None:
        for table in ("signatures", "signature_bands"):
            self._db.execute(f"DELETE FROM {table} WHERE tenant = ? AND document_id = ?", (tenant, document_id))

    def same_content(self, tenant: str, content_hash: str, other_than: str) -> list[str]:
        """The tenant's other documents whose extracted text hashes to `content_hash`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT document_id FROM documents WHERE tenant = ? AND content_hash = ? AND document_id != ?",
                (tenant, content_hash, other_than),
            ).fetchall()
        return [row[0] for row in rows]

    def sharing_a_band(self, tenant: str, bands: list[str], other_than: str) -> list[tuple[str, bytes]]:
        """(document id, signature) of the tenant's other documents that share an LSH band with `bands`."""
        marks = ", ".join("?" * len(bands))
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT s.document_id, s.minhash FROM signature_bands AS b JOIN signatures AS s"
                " ON s.tenant = b.tenant AND s.document_id = b.document_id"
                f" WHERE b.tenant = ? AND b.band IN ({marks}) AND b.document_id != ?",
                (tenant, *bands, other_than),
            ).fetchall()
        return [(row[0], bytes(row[1])) for row in rows]

    def schema(self, tenant: str) -> tuple[list[FieldSpec], str]:
        """The tenant's declared fields (empty when it declared none) and when they were declared."""
        with self._lock:
            row = self._db.execute(
                "SELECT fields, updated_at FROM metadata_schemas WHERE tenant = ?", (tenant,)
            ).fetchone()
        if row is None:
            return [], ""
        return [FieldSpec(**spec) for spec in json.loads(row["fields"])], row["updated_at"]

    def save_schema(self, tenant: str, fields: list[FieldSpec]) -> str:
        """Replace the schema and audit it, in one transaction; returns the time it was recorded."""
        stamp = now()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO metadata_schemas (tenant, fields, updated_at) VALUES (?, ?, ?)",
                    (tenant, json.dumps([spec.__dict__ for spec in fields]), stamp),
                )
                self._audit(tenant, "", "schema", {"fields": [spec.name for spec in fields]})
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return stamp

    def documents_carrying(self, tenant: str, name: str) -> int:
        """How many of the tenant's documents carry the attribute."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM documents WHERE tenant = ? AND json_extract(attributes, ?) IS NOT NULL",
                (tenant, f"$.{name}"),
            ).fetchone()
        return int(row[0])

    def observed_values(self, tenant: str, name: str, limit: int) -> list[str]:
        """The distinct values documents carry for a keyword (or keyword list) attribute, most common first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT value, COUNT(*) AS n FROM ("
                "  SELECT CASE WHEN json_type(attributes, ?) = 'array' THEN each.value"
                "  ELSE json_extract(attributes, ?) END AS value FROM documents"
                "  LEFT JOIN json_each(documents.attributes, ?) AS each ON json_type(attributes, ?) = 'array'"
                "  WHERE tenant = ? AND json_extract(attributes, ?) IS NOT NULL"
                ") WHERE value IS NOT NULL GROUP BY value ORDER BY n DESC, value LIMIT ?",
                (*[f"$.{name}"] * 4, tenant, f"$.{name}", limit),
            ).fetchall()
        return [str(row["value"]) for row in rows]

    def corpus_version(self, tenant: str) -> str:
        """The tenant's last audit entry: every change to its documents, their permissions or its schema appends
        one in the change's own transaction, so the version moves exactly when the corpus does."""
        with self._lock:
            row = self._db.execute("SELECT MAX(id) FROM audit WHERE tenant = ?", (tenant,)).fetchone()
        return str(row[0] or 0)

    def record(self, tenant: str, document_id: str, action: str, detail: dict[str, object]) -> None:
        """An audit entry on its own: for index changes that leave the catalogue as it was (a failed ingest whose
        chunks were briefly searchable), so that the corpus version still moves."""
        with self._lock:
            self._audit(tenant, document_id, action, detail)

    def quarantine(self, tenant: str, filename: str, content_type: str, size_bytes: int, reason: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO quarantine (at, tenant, filename, content_type, size_bytes, reason)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (now(), tenant, filename, content_type, size_bytes, reason),
            )
            QUARANTINED.set(self._quarantine_size())

    def prune(self, quarantine_days: float, audit_days: float) -> tuple[int, int]:
        """Drop quarantine entries and audit entries older than their retention (0: keep forever); how many of each
        went. Each tenant's newest audit entry stays whatever its age: it is the tenant's corpus version, and a
        version must never go back to one a cache may still hold entries for."""
        cutoff = lambda days: (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="milliseconds")[:23] + "Z"  # noqa: E731
        with self._lock:
            quarantined = audited = 0
            if quarantine_days:
                quarantined = self._db.execute(
                    "DELETE FROM quarantine WHERE at < ?", (cutoff(quarantine_days),)
                ).rowcount
                QUARANTINED.set(self._quarantine_size())
            if audit_days:
                audited = self._db.execute(
                    "DELETE FROM audit WHERE at < ? AND id NOT IN (SELECT MAX(id) FROM audit GROUP BY tenant)",
                    (now(audit_days),),
                ).rowcount
        return quarantined, audited

    def _quarantine_size(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0])

    def audit_log(self, tenant: str) -> list[dict[str, object]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM audit WHERE tenant = ? ORDER BY id", (tenant,)).fetchall()
        return [dict(row) for row in rows]

    def quarantined(self, tenant: str) -> list[dict[str, object]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM quarantine WHERE tenant = ? ORDER BY id", (tenant,)).fetchall()
        return [dict(row) for row in rows]

    def _audit(self, tenant: str, document_id: str, action: str, detail: dict[str, object]) -> None:
        self._db.execute(
            "INSERT INTO audit (at, tenant, document_id, action, detail) VALUES (?, ?, ?, ?, ?)",
            (now(), tenant, document_id, action, json.dumps(detail, sort_keys=True)),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()
