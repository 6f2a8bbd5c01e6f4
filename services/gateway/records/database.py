"""The gateway's database: one async engine per process, short sessions, migrations to head at start-up."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"
# Async drivers for the URL a user writes, and the sync driver Alembic runs with.
_ASYNC = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_SYNC = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


def _with_driver(url: str, drivers: dict[str, str]) -> str:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise ValueError(f"unsupported database {backend!r}: use sqlite:///path or postgresql://user@host/db")
    return parsed.set(drivername=drivers[backend]).render_as_string(hide_password=False)


def _write_ahead_log(connection: object, record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def alembic_config(url: str) -> Config:
    """Alembic's configuration for `url`, without an alembic.ini: the scripts live beside this module."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", _with_driver(url, _SYNC).replace("%", "%%"))
    return config


class Database:
    """Sessions on the gateway's database."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # SQLite: writers wait for each other (up to 30 s) instead of failing at once with "database is locked".
        options = {"connect_args": {"timeout": 30}} if parsed.get_backend_name() == "sqlite" else {}
        self.engine: AsyncEngine = create_async_engine(_with_driver(url, _ASYNC), pool_pre_ping=True, **options)
        if options:
            # Readers do not wait for the writer (write-ahead log).
            event.listen(self.engine.sync_engine, "connect", _write_ahead_log)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def migrate(self) -> None:
        """Upgrade to the newest schema (a no-op when it is there; PostgreSQL serialises concurrent replicas)."""
        await asyncio.to_thread(command.upgrade, alembic_config(self.url), "head")

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: committed when the block ends, rolled back when it raises."""
        async with self._sessions() as session, session.begin():
            yield session

    async def close(self) -> None:
        await self.engine.dispose()
