"""The ingest service's database: the shared plumbing (services/runtime/database.py) on its own migrations."""

from pathlib import Path

from services.records import database

MIGRATIONS = Path(__file__).parent / "migrations"


class Database(database.Database):
    """Sessions on the ingest service's database."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        super().__init__(url, MIGRATIONS, pool_size=pool_size, serial_sqlite=True)
