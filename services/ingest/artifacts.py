"""Raw artifacts: each document's bytes as they were sent, in the object store, one prefix per tenant; and the bytes
of a job's documents while they wait for a worker."""

import hashlib
import uuid

from services.records.objects import ObjectStore


def document_key(tenant: str, document_id: str, revision: str = "") -> str:
    """Where a revision's bytes live. Each revision has its own key, so that until the catalogue names the new one
    the old bytes stay where the old revision points; "" is the key of documents catalogued before revisions were
    (ids never hold "@")."""
    key = f"raw/{hashlib.sha256(tenant.encode()).hexdigest()[:16]}/{document_id}"
    return f"{key}@{revision}" if revision else key


def upload_key(job_id: str, position: int) -> str:
    return f"jobs/{job_id}/{position}"


def held_key(tenant: str) -> str:
    """Where a document held in quarantine waits (a key of its own: two held sends of one id never collide)."""
    return f"held/{hashlib.sha256(tenant.encode()).hexdigest()[:16]}/{uuid.uuid4().hex}"


class RawArtifacts:
    """The bytes of every revision the catalogue names, kept so its text can be extracted again exactly as it was
    indexed."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def write(
        self, tenant: str, document_id: str, revision: str, content: bytes, metadata: dict[str, str]
    ) -> None:
        await self.store.put(document_key(tenant, document_id, revision), content, metadata)

    async def read(self, tenant: str, document_id: str, revision: str) -> bytes:
        """The bytes; FileNotFoundError when there are none."""
        try:
            return await self.store.get(document_key(tenant, document_id, revision))
        except FileNotFoundError:
            if not revision:
                raise
            return await self.store.get(document_key(tenant, document_id))

    async def delete(self, tenant: str, document_id: str, revision: str) -> None:
        """The revision's bytes (and those kept before revisions had keys of their own)."""
        await self.store.delete(document_key(tenant, document_id, revision))
        await self.store.delete(document_key(tenant, document_id))
