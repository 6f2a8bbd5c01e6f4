"""Raw artifacts: each document's bytes as they were sent, under the data dir, one folder per tenant."""

import asyncio
import contextlib
import hashlib
import os
import tempfile
from pathlib import Path


class RawArtifacts:
    """The bytes of every document, kept so its text can be extracted again exactly as it was indexed."""

    def __init__(self, data_dir: Path) -> None:
        self._root = Path(data_dir) / "raw"

    def path(self, tenant: str, document_id: str) -> Path:
        return self._root / hashlib.sha256(tenant.encode()).hexdigest()[:16] / document_id

    async def write(self, tenant: str, document_id: str, content: bytes) -> None:
        await asyncio.to_thread(_write_atomically, self.path(tenant, document_id), content)

    async def read(self, tenant: str, document_id: str) -> bytes:
        """The bytes; FileNotFoundError when there are none."""
        return await asyncio.to_thread(self.path(tenant, document_id).read_bytes)

    def delete(self, tenant: str, document_id: str) -> None:
        self.path(tenant, document_id).unlink(missing_ok=True)


def _write_atomically(path: Path, content: bytes) -> None:
    """Write a temporary file of a name of its own beside `path`, then rename it over `path`: two writers of the
    same document never write into one file, and a reader sees the old bytes or the new ones."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
