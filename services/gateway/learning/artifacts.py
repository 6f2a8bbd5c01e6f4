"""Each trained adapter version as a versioned artifact in the object store (services/records/objects.py), under
adapters/<tenant>/v<version>/:

- `adapter.npy`: the matrix questions go through;
- `snapshot.jsonl`: the data it learned from and was judged on, one labelled answer a line with its split;
- `manifest.json`: model, dimension, epochs, the sha256 of both files, the gate's scores, decision and reasons, who
  asked and when. Written last: a version whose manifest is there is whole.

The records database keeps the registry (status, share, served since) and a serving copy of the matrix, so that every
replica serves without reading the store; the store keeps what reproduces, audits and restores a version, and a
matrix read back from it is checked against the digest its manifest names."""

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from services.records.objects import ObjectStore, open_store

if TYPE_CHECKING:
    from services.gateway.config import GatewaySettings

# What a store that cannot be written raises: a folder's OSError, S3's botocore errors.
STORE_ERRORS = (OSError, BotoCoreError, ClientError)


@dataclass(frozen=True)
class SnapshotRow:
    """One labelled answer as the version saw it."""

    answer_id: str
    split: str
    question: str
    relevant_documents: list[str]
    relevant_passages: list[str]


def artifact_prefix(tenant: str, version: int) -> str:
    # Tenant ids are names a caller cannot choose freely, but they are quoted all the same: a key never nests.
    return f"adapters/{quote(tenant, safe='')}/v{version}"


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


class AdapterArtifacts:
    """Writes and reads adapter versions in one object store."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    @classmethod
    def configured(cls, settings: "GatewaySettings") -> "AdapterArtifacts":
        """The store the gateway's settings name (artifact_store_url and its S3 options)."""
        secret = settings.artifact_s3_secret_access_key
        return cls(
            open_store(
                settings.artifact_store_url,
                Path(settings.data_dir) / "artifacts",
                endpoint_url=settings.artifact_s3_endpoint_url,
                region=settings.artifact_s3_region,
                access_key_id=settings.artifact_s3_access_key_id,
                secret_access_key=secret.get_secret_value() if secret else "",
                versioning=settings.artifact_versioning,
            )
        )

    async def write(
        self, tenant: str, version: int, matrix: np.ndarray, snapshot: list[SnapshotRow], manifest: dict
    ) -> dict:
        """Store the version; the manifest as stored (with the files' digests)."""
        prefix = artifact_prefix(tenant, version)
        buffer = io.BytesIO()
        np.save(buffer, matrix.astype(np.float32), allow_pickle=False)
        weights = buffer.getvalue()
        lines = "".join(json.dumps(row.__dict__, ensure_ascii=False) + "\n" for row in snapshot).encode()
        kind = {"tenant": tenant, "version": str(version)}
        await self.store.put(f"{prefix}/adapter.npy", weights, kind | {"sha256": _digest(weights)})
        await self.store.put(f"{prefix}/snapshot.jsonl", lines, kind | {"sha256": _digest(lines)})
        whole = manifest | {
            "tenant": tenant,
            "version": version,
            "files": {
                "adapter.npy": {"sha256": _digest(weights), "bytes": len(weights)},
                "snapshot.jsonl": {"sha256": _digest(lines), "bytes": len(lines), "rows": len(snapshot)},
            },
        }
        await self.store.put(f"{prefix}/manifest.json", json.dumps(whole, indent=2).encode(), kind)
        return whole

    async def manifest(self, tenant: str, version: int) -> dict:
        """The version's manifest; FileNotFoundError when the store has none."""
        return json.loads(await self.store.get(f"{artifact_prefix(tenant, version)}/manifest.json"))

    async def matrix(self, tenant: str, version: int) -> np.ndarray:
        """The version's matrix as stored; ValueError when its bytes do not match the manifest's digest."""
        manifest = await self.manifest(tenant, version)
        weights = await self.store.get(f"{artifact_prefix(tenant, version)}/adapter.npy")
        if _digest(weights) != manifest["files"]["adapter.npy"]["sha256"]:
            raise ValueError(f"adapter {tenant} v{version}: adapter.npy does not match its manifest's digest")
        return np.load(io.BytesIO(weights), allow_pickle=False)

    async def snapshot(self, tenant: str, version: int) -> list[SnapshotRow]:
        lines = (await self.store.get(f"{artifact_prefix(tenant, version)}/snapshot.jsonl")).decode().splitlines()
        return [SnapshotRow(**json.loads(line)) for line in lines if line]
