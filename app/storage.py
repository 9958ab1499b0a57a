"""Object storage: a local directory (embedded default) or any S3 API (boto3).

The interface is synchronous, as boto3 is: call it from a worker thread
(``asyncio.to_thread``), never from the event loop. Keys are relative POSIX paths such
as ``recordings/{meeting}/{recording}/{track}/{seq:06d}.webm``; putting the same key
again overwrites, so a retried upload never duplicates anything.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from app.config import Settings

CHUNK = 1024 * 1024


class StorageError(Exception):
    """The store could not do what was asked (unreachable, refused, corrupt)."""


class ObjectNotFound(StorageError):
    pass


class ChecksumMismatch(StorageError):
    """What the store holds is not what was sent."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    size: int
    sha256: str | None


def validate_key(key: str) -> str:
    path = PurePosixPath(key)
    if (not key or key.startswith("/") or "\\" in key or "\x00" in key
            or any(part in ("", ".", "..") for part in key.split("/"))):
        raise ValueError(f"invalid object key {key!r}")
    return str(path)


def validate_prefix(prefix: str) -> str:
    """A key prefix: empty (everything), or a key's beginning (``recordings/m/``)."""
    if prefix:
        validate_key(prefix.removesuffix("/"))
    return prefix


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_of_file(handle: BinaryIO) -> tuple[str, int]:
    """The hex SHA-256 and size of what is left in ``handle``."""
    digest, size = hashlib.sha256(), 0
    while piece := handle.read(CHUNK):
        digest.update(piece)
        size += len(piece)
    return digest.hexdigest(), size


class ObjectStore(ABC):
    backend: str
    bucket: str | None = None  # the S3 bucket; None for the local store

    @abstractmethod
    def put(self, key: str, data: bytes) -> StoredObject:
        """Store ``data`` under ``key`` and verify what was stored."""

    @abstractmethod
    def put_file(self, key: str, path: Path) -> StoredObject:
        """Store the file at ``path`` under ``key`` without reading it all into memory,
        and verify what was stored."""

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def iter_chunks(self, key: str) -> Iterator[bytes]:
        """The object's bytes in pieces, for streaming responses."""

    @abstractmethod
    def head(self, key: str) -> StoredObject | None:
        """Size and SHA-256 of the object, or None if there is none."""

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete one object; deleting what is not there is fine."""

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """The keys starting with ``prefix``, sorted."""

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)

    def url_for(self, key: str) -> str | None:
        """A URL a client can download from directly, or None to stream through the API."""
        return None

    @abstractmethod
    def check(self) -> None:
        """Raise ``StorageError`` unless the store is reachable and writable."""

    @abstractmethod
    def ensure_bucket(self) -> None:
        """Create the bucket (S3) or directory (local) if it is not there yet."""


# --------------------------------------------------------------------------- local


class LocalObjectStore(ObjectStore):
    backend = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def put(self, key: str, data: bytes) -> StoredObject:
        path = self._path(key)
        with self._replacing(path) as tmp:
            tmp.write(data)
        return StoredObject(key=key, size=len(data), sha256=sha256_of(data))

    def put_file(self, key: str, path: Path) -> StoredObject:
        target = self._path(key)
        with path.open("rb") as source, self._replacing(target) as tmp:
            shutil.copyfileobj(source, tmp, CHUNK)
        with target.open("rb") as written:
            sha256, size = sha256_of_file(written)
        return StoredObject(key=key, size=size, sha256=sha256)

    @contextlib.contextmanager
    def _replacing(self, path: Path) -> Iterator[IO[bytes]]:
        """A temporary file beside ``path`` that replaces it atomically once written."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, prefix=".part-") as tmp:
            try:
                yield tmp
                tmp.flush()
                os.fsync(tmp.fileno())
            except BaseException:
                tmp.close()
                Path(tmp.name).unlink(missing_ok=True)
                raise
        os.replace(tmp.name, path)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc
        with handle:
            while piece := handle.read(CHUNK):
                yield piece

    def head(self, key: str) -> StoredObject | None:
        path = self._path(key)
        try:
            with path.open("rb") as handle:
                sha256, size = sha256_of_file(handle)
        except (FileNotFoundError, IsADirectoryError):
            return None
        return StoredObject(key=key, size=size, sha256=sha256)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str) -> list[str]:
        base = self.root / validate_prefix(prefix) if prefix else self.root
        directory = base if base.is_dir() else base.parent
        if not directory.exists():
            return []
        keys = (str(p.relative_to(self.root)) for p in directory.rglob("*")
                if p.is_file() and not p.name.startswith(".part-"))
        return sorted(k for k in keys if k.startswith(prefix))

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".readyz"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise StorageError(f"{self.root} is not writable: {exc}") from exc

    def ensure_bucket(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)


# --------------------------------------------------------------------------- S3


class S3ObjectStore(ObjectStore):
    """Any S3 API. Uploads carry a SHA-256 checksum and are read back to verify it:
    some S3-compatible stores mishandle boto3's default CRC checksums, so what boto3
    computes by default is a setting (``VERBATIM_S3_CHECKSUM``)."""

    backend = "s3"

    def __init__(self, settings: Settings) -> None:
        import boto3
        from botocore.config import Config

        config = Config(
            region_name=settings.s3_region,
            retries={"mode": "standard", "max_attempts": settings.s3_max_attempts},
            s3={"addressing_style": settings.s3_addressing_style},
            request_checksum_calculation=settings.s3_checksum,
            response_checksum_validation=settings.s3_checksum,
            connect_timeout=5,
            read_timeout=30,
        )
        secret = settings.s3_secret_access_key
        self.bucket: str = settings.s3_bucket
        self._region = settings.s3_region
        self._presign_seconds = settings.s3_presign_seconds
        self._client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            config=config,
        )

    def _error(self, exc: Exception, key: str) -> StorageError:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404", "NotFound"):
                return ObjectNotFound(key)
        return StorageError(f"S3 {type(exc).__name__} on {key}: {exc}")

    def put(self, key: str, data: bytes) -> StoredObject:
        validate_key(key)
        digest = hashlib.sha256(data)
        checksum = base64.b64encode(digest.digest()).decode()
        try:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=data,
                                    ChecksumSHA256=checksum,
                                    Metadata={"sha256": digest.hexdigest()})
        except Exception as exc:  # boto3 raises many unrelated types; all mean "not stored"
            raise self._error(exc, key) from exc
        return self.verify(key, sha256=digest.hexdigest(), size=len(data))

    def put_file(self, key: str, path: Path) -> StoredObject:
        validate_key(key)
        with path.open("rb") as handle:
            sha256, size = sha256_of_file(handle)
            handle.seek(0)
            checksum = base64.b64encode(bytes.fromhex(sha256)).decode()
            try:
                self._client.put_object(Bucket=self.bucket, Key=key, Body=handle,
                                        ContentLength=size, ChecksumSHA256=checksum,
                                        Metadata={"sha256": sha256})
            except Exception as exc:
                raise self._error(exc, key) from exc
        return self.verify(key, sha256=sha256, size=size)

    def verify(self, key: str, *, sha256: str, size: int) -> StoredObject:
        """Check that the store holds exactly these bytes: by the checksum it computed
        when it has one, by reading the object back otherwise."""
        try:
            response = self._client.head_object(Bucket=self.bucket, Key=key,
                                                ChecksumMode="ENABLED")
        except Exception as exc:
            raise self._error(exc, key) from exc
        stored_size = int(response["ContentLength"])
        checksum = response.get("ChecksumSHA256")
        if checksum and "-" not in checksum:
            actual = base64.b64decode(checksum).hex()
        else:
            actual = sha256_of(self.get(key))
        if stored_size != size or actual != sha256:
            raise ChecksumMismatch(f"{key}: the store holds {stored_size} bytes with sha256 "
                                   f"{actual}, not {size} bytes with {sha256}")
        return StoredObject(key=key, size=size, sha256=sha256)

    def get(self, key: str) -> bytes:
        try:
            return bytes(self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except Exception as exc:
            raise self._error(exc, key) from exc

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except Exception as exc:
            raise self._error(exc, key) from exc
        yield from body.iter_chunks(CHUNK)

    def head(self, key: str) -> StoredObject | None:
        try:
            response = self._client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            error = self._error(exc, key)
            if isinstance(error, ObjectNotFound):
                return None
            raise error from exc
        sha256 = response.get("Metadata", {}).get("sha256")
        return StoredObject(key=key, size=int(response["ContentLength"]), sha256=sha256)

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            raise self._error(exc, key) from exc

    def list(self, prefix: str) -> list[str]:
        validate_prefix(prefix)
        keys: list[str] = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=prefix):
                keys += [item["Key"] for item in page.get("Contents", [])]
        except Exception as exc:
            raise self._error(exc, prefix) from exc
        return sorted(keys)

    def url_for(self, key: str) -> str | None:
        validate_key(key)
        url: str = self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=self._presign_seconds)
        return url

    def ensure_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except Exception:
            options = ({} if self._region == "us-east-1" else  # AWS refuses this one
                       {"CreateBucketConfiguration": {"LocationConstraint": self._region}})
            try:
                self._client.create_bucket(Bucket=self.bucket, **options)
            except Exception as exc:
                raise self._error(exc, self.bucket) from exc

    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise self._error(exc, self.bucket) from exc


def create_object_store(settings: Settings) -> ObjectStore:
    if settings.storage_backend == "s3":
        return S3ObjectStore(settings)
    return LocalObjectStore(settings.objects_dir)
