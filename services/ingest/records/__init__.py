"""The ingest service's records in SQL (SQLAlchemy 2 + Alembic): the document catalogue, revisions being written,
jobs, quarantine and the audit log. A SQLite file on one machine, PostgreSQL shared by every replica in
production; no other service reads these tables."""
