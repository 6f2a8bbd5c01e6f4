"""The gateway's own records in SQL (SQLAlchemy 2 + Alembic): API keys and the audit log. A SQLite file on one
machine, PostgreSQL in production; no other service reads these tables."""
