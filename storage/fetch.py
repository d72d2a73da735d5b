"""Fetch many photos concurrently; each failure becomes a FetchFailed with its reason, in place."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from storage.refs import PhotoRef, SourceError
from storage.s3 import describe_s3_error, is_s3_uri, split_s3_uri

READ_CHUNK_BYTES = 1 << 20
# S3 answers that mean "not now" rather than "never": the photo stays pending and is fetched again.
TRANSIENT_S3_CODES = frozenset({"SlowDown", "Throttling", "RequestTimeout", "InternalError", "ServiceUnavailable",
                                "500", "502", "503", "504"})


@dataclass(frozen=True)
class FetchFailed:
    """Why one photo's bytes could not be had (stored as the photo's `error` reason)."""

    reason: str
    transient: bool = False  # throttling or an unreachable endpoint, after the client's retries


def fetch_many(
    refs: Sequence[PhotoRef],
    *,
    s3_client,
    concurrency: int,
    max_bytes: int,
    root: Path | None = None,
) -> list[bytes | FetchFailed]:
    """The bytes of every ref, in input order, fetched by up to `concurrency` threads.

    Never raises for one photo: a missing object or file, one larger than `max_bytes`
    (checked from the listed size or ContentLength before the body is read), access denied,
    throttling that outlasted the client's retries, or a local path outside `root` (the folder
    the job was created from, when given) each become a FetchFailed.
    """
    if not refs:
        return []
    root = root.resolve() if root is not None else None

    def fetch_one(ref: PhotoRef) -> bytes | FetchFailed:
        if ref.size is not None and ref.size > max_bytes:
            return FetchFailed(too_large(ref.size, max_bytes))
        if is_s3_uri(ref.uri):
            return fetch_s3(ref.uri, s3_client=s3_client, max_bytes=max_bytes)
        return fetch_local(ref.uri, max_bytes=max_bytes, root=root)

    workers = max(1, min(concurrency, len(refs)))
    if workers == 1:
        return [fetch_one(ref) for ref in refs]
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch")
    try:
        return list(pool.map(fetch_one, refs))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a time limit must not wait on a stuck read


def is_transient_s3_error(exc: Exception) -> bool:
    """Throttling, a 5xx or an endpoint that could not be reached: worth trying again later."""
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return True
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        return error.get("Code", "") in TRANSIENT_S3_CODES or status in TRANSIENT_S3_CODES
    return False


def too_large(size: int, max_bytes: int) -> str:
    return f"too large: {size} bytes (limit {max_bytes})"


def fetch_s3(uri: str, *, s3_client, max_bytes: int) -> bytes | FetchFailed:
    if s3_client is None:
        return FetchFailed("no S3 client configured")
    try:
        bucket, key = split_s3_uri(uri)
        response = s3_client.get_object(Bucket=bucket, Key=key)
    except SourceError as exc:
        return FetchFailed(str(exc))
    except (ClientError, BotoCoreError) as exc:
        return FetchFailed(describe_s3_error(exc, s3_client), transient=is_transient_s3_error(exc))
    body = response["Body"]
    try:
        length = response.get("ContentLength")
        if length is not None and length > max_bytes:
            return FetchFailed(too_large(length, max_bytes))
        return _read_capped(body, max_bytes)
    except (BotoCoreError, OSError) as exc:
        return FetchFailed(f"read failed: {describe_s3_error(exc, s3_client)}", transient=True)
    finally:
        body.close()


def fetch_local(uri: str, *, max_bytes: int, root: Path | None) -> bytes | FetchFailed:
    path = Path(uri.removeprefix("file://"))
    if not path.is_absolute():
        return FetchFailed("not an absolute path")
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return FetchFailed("no such file")
    if root is not None and not resolved.is_relative_to(root):
        return FetchFailed("outside the job's folder")
    try:
        with resolved.open("rb") as handle:
            size = _file_size(handle)
            if size > max_bytes:
                return FetchFailed(too_large(size, max_bytes))
            return _read_capped(handle, max_bytes)
    except IsADirectoryError:
        return FetchFailed("is a folder, not a file")
    except PermissionError:
        return FetchFailed("permission denied")
    except OSError as exc:
        return FetchFailed(f"read failed: {exc.strerror or type(exc).__name__}")


def _file_size(handle) -> int:
    return os.fstat(handle.fileno()).st_size


def _read_capped(stream, max_bytes: int) -> bytes | FetchFailed:
    """Read at most max_bytes + 1: a size that lied (or a growing file) still cannot blow memory."""
    chunks, total = [], 0
    while True:
        chunk = stream.read(min(READ_CHUNK_BYTES, max_bytes + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            return FetchFailed(f"too large: more than {max_bytes} bytes")
