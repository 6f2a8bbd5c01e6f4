"""Records in SQL, the same way in every service that keeps them: SQLAlchemy 2 async engines, short sessions,
Alembic migrations to head at start-up. A SQLite file on one machine, PostgreSQL in production; each service owns
its tables (and its own Alembic version table, so two services may share one PostgreSQL database)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import DateTime, MetaData, engine_from_config, event, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator

# Async drivers for the URL a user writes, and the sync driver Alembic runs with.
ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


class UtcDateTime(TypeDecorator):
    """A timezone-aware UTC moment on every database: SQLite keeps no zone, so it is put back on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def with_driver(url: str, drivers: dict[str, str]) -> str:
    """`url` with the driver of its database from `drivers`; ValueError for a database we do not support."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise ValueError(f"unsupported database {backend!r}: use sqlite:///path or postgresql://user@host/db")
    return parsed.set(drivername=drivers[backend]).render_as_string(hide_password=False)


def _write_ahead_log(connection: object, record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _no_implicit_begin(connection: object, record: object) -> None:
    connection.isolation_level = None  # type: ignore[attr-defined]


def _begin_immediate(connection: object) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")  # type: ignore[attr-defined]


def alembic_config(url: str, migrations: Path) -> Config:
    """Alembic's configuration for `url`, without an alembic.ini: the scripts live in `migrations`."""
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url", with_driver(url, SYNC_DRIVERS).replace("%", "%%"))
    return config


def run_migrations(metadata: MetaData, lock_id: int, version_table: str = "alembic_version") -> None:
    """The body of a service's migrations/env.py (run by Database.migrate, or `alembic -x url=...`)."""
    config = context.config
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    options = {"target_metadata": metadata, "render_as_batch": True, "version_table": version_table}
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config({"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas starting together: one migrates, the others wait for it and then find nothing to do. The
            # lock is the session's; it goes with the connection.
            connection.execute(text(f"SELECT pg_advisory_lock({lock_id})"))
            connection.commit()
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()


class Database:
    """Sessions on one service's database. `serial_sqlite`: on SQLite, transactions run one at a time."""

    def __init__(self, url: str, migrations: Path, pool_size: int = 5, serial_sqlite: bool = False) -> None:
        self.url = url
        self.migrations = migrations
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite" and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        if self.dialect == "sqlite":
            # Writers wait for each other (up to 30 s) instead of failing at once with "database is locked". A file
            # never drops a connection: no ping before each checkout (a round trip to aiosqlite's thread each).
            options: dict[str, object] = {"connect_args": {"timeout": 30}}
        else:
            # A server may have closed a pooled connection (a restart, a failover): each is pinged before use.
            options = {"pool_size": pool_size, "pool_pre_ping": True}
        self.engine: AsyncEngine = create_async_engine(with_driver(url, ASYNC_DRIVERS), **options)
        if self.dialect == "sqlite":
            # Readers do not wait for the writer (write-ahead log).
            event.listen(self.engine.sync_engine, "connect", _write_ahead_log)
            if serial_sqlite:
                # Every transaction takes SQLite's write lock at its start, so one that reads and then writes never
                # fails with "database is locked" when another wrote in between (SQLite's only row lock is this one;
                # PostgreSQL's are real).
                event.listen(self.engine.sync_engine, "connect", _no_implicit_begin)
                event.listen(self.engine.sync_engine, "begin", _begin_immediate)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Reads never take SQLite's write lock (they see the last committed state, as the write-ahead log allows).
        self._readers = self._sessions
        if self.dialect == "sqlite" and serial_sqlite:
            self._reader_engine = create_async_engine(with_driver(url, ASYNC_DRIVERS), connect_args={"timeout": 30})
            event.listen(self._reader_engine.sync_engine, "connect", _write_ahead_log)
            self._readers = async_sessionmaker(self._reader_engine, expire_on_commit=False)

    async def migrate(self) -> None:
        """Upgrade to the newest schema (a no-op when it is there; PostgreSQL serialises concurrent replicas)."""
        await asyncio.to_thread(command.upgrade, alembic_config(self.url, self.migrations), "head")

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: committed when the block ends, rolled back when it raises."""
        async with self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A unit of work that only reads (on SQLite it does not wait for writers)."""
        async with self._readers() as session, session.begin():
            yield session

    async def close(self) -> None:
        await self.engine.dispose()
        if self._readers is not self._sessions:
            await self._reader_engine.dispose()
