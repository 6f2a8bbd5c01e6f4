"""The document catalogue, the append-only audit log and the quarantine list, in one SQLite file.

SQLite gives atomic, durable commits on one node; raw artifacts sit beside it as files.
"""

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

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
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    tenant TEXT NOT NULL,
    document_id TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
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


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


_COLUMNS = list(DocumentRecord.__dataclass_fields__)
_UPSERT_DOCUMENT = f"INSERT OR REPLACE INTO documents ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


def _row(row: sqlite3.Row) -> DocumentRecord:
    values = dict(row)
    values["tags"] = json.loads(values["tags"])
    return DocumentRecord(**values)


class Catalog:
    """Documents per tenant. Every write commits before it returns."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def get(self, tenant: str, document_id: str) -> DocumentRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM documents WHERE tenant = ? AND document_id = ?", (tenant, document_id)
            ).fetchone()
        return _row(row) if row else None

    def page(self, tenant: str, limit: int, offset: int) -> tuple[list[DocumentRecord], int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM documents WHERE tenant = ? ORDER BY created_at, document_id LIMIT ? OFFSET ?",
                (tenant, limit, offset),
            ).fetchall()
            total = self._db.execute("SELECT COUNT(*) FROM documents WHERE tenant = ?", (tenant,)).fetchone()[0]
        return [_row(row) for row in rows], int(total)

    def save(self, record: DocumentRecord, action: str, detail: dict[str, object]) -> None:
        """Insert or replace the record and append the audit entry, in one transaction."""
        values = {**record.__dict__, "tags": json.dumps(record.tags)}
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    _UPSERT_DOCUMENT,
                    [values[name] for name in _COLUMNS],
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
                self._audit(tenant, document_id, "deleted", detail)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def quarantine(self, tenant: str, filename: str, content_type: str, size_bytes: int, reason: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO quarantine (at, tenant, filename, content_type, size_bytes, reason)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (now(), tenant, filename, content_type, size_bytes, reason),
            )

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
