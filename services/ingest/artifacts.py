"""Raw artifacts: each document's bytes as they were sent, in the object store, one prefix per tenant; and the bytes
of a job's documents while they wait for a worker."""

import hashlib
import uuid

from services.ingest.objects import ObjectStore


def document_key(tenant: str, document_id: str) -> str:
    return f"raw/{hashlib.sha256(tenant.encode()).hexdigest()[:16]}/{document_id}"


def upload_key(job_id: str, position: int) -> str:
    return f"jobs/{job_id}/{position}"


def held_key(tenant: str) -> str:
    """Where a document held in quarantine waits (a key of its own: two held sends of one id never collide)."""
    return f"held/{hashlib.sha256(tenant.encode()).hexdigest()[:16]}/{uuid.uuid4().hex}"


class RawArtifacts:
    """The bytes of every document, kept so its text can be extracted again exactly as it was indexed."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def write(self, tenant: str, document_id: str, content: bytes, metadata: dict[str, str]) -> None:
        await self.store.put(document_key(tenant, document_id), content, metadata)

    async def read(self, tenant: str, document_id: str) -> bytes:
        """The bytes; FileNotFoundError when there are none."""
        return await self.store.get(document_key(tenant, document_id))

    async def metadata(self, tenant: str, document_id: str) -> dict[str, str]:
        return await self.store.metadata(document_key(tenant, document_id))

    async def delete(self, tenant: str, document_id: str) -> None:
        await self.store.delete(document_key(tenant, document_id))
