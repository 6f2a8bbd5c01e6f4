"""Raw bytes behind one small interface: a local folder on one machine, any S3-compatible store (boto3) wherever
replicas share them. Each object carries its metadata (where it came from, its licence, hash, size, type, when, and
the ingest configuration it was taken in under); keys are made by the service, never by a caller.

The local folder keeps each object at `<root>/<key>` (written to a temporary name and renamed, so a reader sees the
old bytes or the new) and its metadata beside it under `<root>/.metadata/<key>.json`. On S3 the bucket's
versioning is switched on at start (`object_versioning`), so a replaced or deleted artifact stays recoverable.
"""

import asyncio
import contextlib
import json
import os
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


class ObjectStore(ABC):
    """Bytes and their metadata by key."""

    @abstractmethod
    async def put(self, key: str, content: bytes, metadata: dict[str, str]) -> None: ...

    @abstractmethod
    async def get(self, key: str) -> bytes:
        """The bytes; FileNotFoundError when there is no such object."""

    @abstractmethod
    async def metadata(self, key: str) -> dict[str, str]:
        """The object's metadata; FileNotFoundError when there is no such object."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object (a no-op when it is not there)."""

    @abstractmethod
    def location(self, key: str) -> str:
        """Where the object is, for people: a file URL or s3://bucket/key."""

    async def start(self) -> None:
        """Prepare the store (create the bucket, switch versioning on); called once at start-up."""
        return None

    def close(self) -> None:
        """Release what the store holds."""
        return None


class LocalFolder(ObjectStore):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key

    def _metadata_path(self, key: str) -> Path:
        return self.root / ".metadata" / f"{key}.json"

    def location(self, key: str) -> str:
        return self._path(key).resolve().as_uri()

    async def put(self, key: str, content: bytes, metadata: dict[str, str]) -> None:
        await asyncio.to_thread(_write_atomically, self._path(key), content)
        await asyncio.to_thread(_write_atomically, self._metadata_path(key), json.dumps(metadata).encode())

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def metadata(self, key: str) -> dict[str, str]:
        if not self._path(key).exists():
            raise FileNotFoundError(key)
        try:
            return json.loads(await asyncio.to_thread(self._metadata_path(key).read_bytes))
        except FileNotFoundError:
            return {}  # stored before objects carried metadata

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
        self._metadata_path(key).unlink(missing_ok=True)


class S3Bucket(ObjectStore):
    """Objects under `prefix` in `bucket`; the client is boto3's, its calls run in threads."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str = "",
        region: str = "",
        access_key_id: str = "",
        secret_access_key: str = "",
        versioning: bool = True,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.versioning = versioning
        credentials = (
            {"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key} if access_key_id else {}
        )
        # Without explicit keys boto3 looks for them where it always does (environment, web identity, instance role).
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            config=Config(retries={"mode": "standard", "max_attempts": 5}),
            **credentials,
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    async def start(self) -> None:
        await asyncio.to_thread(self._prepare)

    def _prepare(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise
            self._client.create_bucket(Bucket=self.bucket)
        if self.versioning:
            self._client.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})

    async def put(self, key: str, content: bytes, metadata: dict[str, str]) -> None:
        # S3 metadata is ASCII: values are percent-encoded.
        encoded = {name: quote(value, safe=" /:;=,.-_@") for name, value in metadata.items()}
        await asyncio.to_thread(
            self._client.put_object, Bucket=self.bucket, Key=self._key(key), Body=content, Metadata=encoded
        )

    async def get(self, key: str) -> bytes:
        reply = await asyncio.to_thread(self._call, "get_object", key)
        return await asyncio.to_thread(reply["Body"].read)

    async def metadata(self, key: str) -> dict[str, str]:
        reply = await asyncio.to_thread(self._call, "head_object", key)
        return {name: unquote(value) for name, value in reply.get("Metadata", {}).items()}

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=self._key(key))

    def _call(self, operation: str, key: str) -> dict:
        try:
            return getattr(self._client, operation)(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(key) from None
            raise

    def close(self) -> None:
        self._client.close()


def open_store(url: str, data_dir: Path, **s3: object) -> ObjectStore:
    """The store `url` names: empty for a folder in `data_dir`, s3://bucket/prefix for S3 (`s3` holds its
    endpoint, region, keys and versioning); ValueError for anything else."""
    if not url:
        return LocalFolder(data_dir)
    parsed = urlparse(url)
    if parsed.scheme == "s3" and parsed.netloc:
        return S3Bucket(parsed.netloc, parsed.path, **s3)  # type: ignore[arg-type]
    if parsed.scheme == "file":
        return LocalFolder(Path(parsed.path))
    raise ValueError(f"object_store_url {url!r}: use s3://bucket/prefix, file:///path, or leave it empty")


def _write_atomically(path: Path, content: bytes) -> None:
    """Write a temporary file of a name of its own beside `path`, then rename it over `path`: two writers of the
    same key never write into one file, and a reader sees the old bytes or the new ones."""
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
