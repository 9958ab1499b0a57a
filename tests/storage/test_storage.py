"""Object storage against a local directory and a real S3 API server on loopback."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.storage import (
    ChecksumMismatch,
    LocalObjectStore,
    ObjectNotFound,
    ObjectStore,
    S3ObjectStore,
    StorageError,
    create_object_store,
    validate_key,
)
from tests.s3server import ACCESS_KEY, SECRET_KEY, s3_server


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


def s3_settings(endpoint: str, tmp_path: Path, **overrides: object) -> Settings:
    return Settings(env="test", data_dir=tmp_path, storage_backend="s3",
                    s3_endpoint_url=endpoint, s3_bucket=f"b-{uuid.uuid4().hex[:12]}",
                    s3_access_key_id=ACCESS_KEY, s3_secret_access_key=SECRET_KEY,
                    s3_addressing_style="path", s3_max_attempts=2, **overrides)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return create_object_store(Settings(env="test", data_dir=tmp_path))
    s3 = create_object_store(s3_settings(request.getfixturevalue("s3_endpoint"), tmp_path))
    assert isinstance(s3, S3ObjectStore)
    s3.ensure_bucket()
    return s3


def test_put_get_head_list_delete(store: ObjectStore) -> None:
    key = "recordings/m/r/t/000001.webm"
    stored = store.put(key, b"chunk one")
    assert stored.size == 9 and stored.sha256 is not None
    assert store.get(key) == b"chunk one"
    assert b"".join(store.iter_chunks(key)) == b"chunk one"
    assert store.head(key) == stored
    store.put(key, b"chunk one, again")  # a retried upload overwrites
    store.put("recordings/m/r/t/000002.webm", b"two")
    store.put("recordings/m/other/x.webm", b"x")
    assert store.list("recordings/m/r/") == ["recordings/m/r/t/000001.webm",
                                             "recordings/m/r/t/000002.webm"]
    assert store.delete_prefix("recordings/m/r/") == 2
    assert store.head(key) is None
    assert store.list("recordings/m/") == ["recordings/m/other/x.webm"]
    store.delete(key)  # already gone: fine
    with pytest.raises(ObjectNotFound):
        store.get(key)
    store.check()


def test_put_file_and_exists(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "big.webm"
    source.write_bytes(bytes(range(256)) * 9000)  # a little over 2 MiB: several pieces
    stored = store.put_file("recordings/m/r/t/000000.webm", source)
    assert stored.size == source.stat().st_size
    assert stored.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert store.exists("recordings/m/r/t/000000.webm")
    assert not store.exists("recordings/m/r/t/000001.webm")
    assert store.get("recordings/m/r/t/000000.webm") == source.read_bytes()
    assert store.head("recordings/m/r/t/000000.webm") == stored


def test_local_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    store.put("a/b", b"one")
    with pytest.raises(FileNotFoundError):
        store.put_file("a/c", tmp_path / "missing")
    assert sorted(p.name for p in (tmp_path / "objects" / "a").iterdir()) == ["b"]


@pytest.mark.parametrize("prefix", ["../", "/etc/", "a/../../"])
def test_prefixes_are_validated(store: ObjectStore, prefix: str) -> None:
    with pytest.raises(ValueError):
        store.list(prefix)


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "a/./b", "a\\b", "x\x00"])
def test_keys_are_validated(key: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        validate_key(key)
    with pytest.raises(ValueError):
        LocalObjectStore(tmp_path).put(key, b"x")


def test_presigned_urls_serve_the_bytes(s3_endpoint: str, tmp_path: Path) -> None:
    store = S3ObjectStore(s3_settings(s3_endpoint, tmp_path))
    store.ensure_bucket()
    store.put("a/b.webm", b"\x1aE\xdf\xa3 webm bytes")
    url = store.url_for("a/b.webm")
    assert url and url.startswith(s3_endpoint)
    assert httpx.get(url).content == b"\x1aE\xdf\xa3 webm bytes"
    assert LocalObjectStore(tmp_path).url_for("a/b.webm") is None


@pytest.mark.parametrize("checksum", ["when_required", "when_supported"])
def test_checksum_settings_both_store_verified_objects(s3_endpoint: str, tmp_path: Path,
                                                       checksum: str) -> None:
    store = S3ObjectStore(s3_settings(s3_endpoint, tmp_path, s3_checksum=checksum))
    store.ensure_bucket()
    assert store.put("c/k", b"payload").sha256 == store.head("c/k").sha256


def test_a_corrupt_object_is_detected(s3_endpoint: str, tmp_path: Path) -> None:
    store = S3ObjectStore(s3_settings(s3_endpoint, tmp_path))
    store.ensure_bucket()
    store.put("c/k", b"payload")
    expected = store.head("c/k")
    assert expected is not None and expected.sha256
    # a store that kept other bytes than it was sent (same length, same metadata)
    store._client.put_object(Bucket=store.bucket, Key="c/k", Body=b"PAYLOAD",
                             Metadata={"sha256": expected.sha256})
    with pytest.raises(ChecksumMismatch):
        store.verify("c/k", sha256=expected.sha256, size=7)
    store._client.put_object(Bucket=store.bucket, Key="c/k", Body=b"payload",
                             ChecksumAlgorithm="SHA256")
    assert store.verify("c/k", sha256=expected.sha256, size=7).size == 7


def test_unreachable_store(tmp_path: Path) -> None:
    store = S3ObjectStore(s3_settings("http://127.0.0.1:9", tmp_path))
    with pytest.raises(StorageError):
        store.check()
    with pytest.raises(StorageError):
        store.put("a/b", b"x")
