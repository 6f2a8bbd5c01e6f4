"""Alembic's environment for the ingest service's tables (run by Database.migrate, or `alembic` with -x url=...).
Its version table is its own, so the gateway and ingest may share one PostgreSQL database."""

from services.ingest.records.models import Base
from services.records.database import run_migrations

run_migrations(Base.metadata, lock_id=74207002, version_table="ingest_alembic_version")
