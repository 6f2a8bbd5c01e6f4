"""The gateway's database: the shared plumbing (services/runtime/database.py) on the gateway's migrations."""

from pathlib import Path

from services.records import database

MIGRATIONS = Path(__file__).parent / "migrations"


class Database(database.Database):
    """Sessions on the gateway's database."""

    def __init__(self, url: str) -> None:
        super().__init__(url, MIGRATIONS)
