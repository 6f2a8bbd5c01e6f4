"""Alembic's environment for the gateway's tables (run by Database.migrate, or `alembic` with -x url=...)."""

from services.gateway.records.models import Base
from services.records.database import run_migrations

run_migrations(Base.metadata, lock_id=74207001)
