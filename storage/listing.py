"""List the photos of a source: `s3://bucket/prefix`, a local folder, a manifest, or one file.

Local photos are yielded as absolute POSIX paths (not `file://` URIs): that is what operators
paste back into `meter-ocr read`. Manifests may name `file://` URIs; they are normalised to paths.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from storage.manifest import (
    MANIFEST_SUFFIXES,
    MAX_S3_MANIFEST_BYTES,
    is_manifest_name,
    read_manifest,
    read_s3_manifest,
)
from storage.refs import PhotoRef, SourceError
from storage.s3 import describe_s3_error, is_s3_uri, split_s3_uri

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".heic", ".heif", ".avif", ".bmp", ".tif", ".tiff", ".webp"})
DEFAULT_PAGE_SIZE = 1000  # S3's own maximum per ListObjectsV2 page


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def list_photos(source: str, *, s3_client=None, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[PhotoRef]:
    """Yield the photos of `source` lazily, in a stable order.

    Raises SourceError (one operator-facing line) for a missing folder or manifest, a bad URI,
    an unreachable endpoint, a missing bucket or missing credentials.
    """
    if not source.strip():
        # An unset shell variable would otherwise read the working directory, .venv and all.
        raise SourceError("cannot list an empty source: name a folder, an image, a manifest or s3://bucket/prefix")
    if is_s3_uri(source):
        if s3_client is None:
            raise SourceError(f"cannot list {source}: no S3 client configured")
        manifest = _fetch_s3_manifest(source, s3_client) if is_manifest_name(source) else None
        if manifest is not None:
            yield from read_s3_manifest(source, manifest)
        else:
            yield from list_s3_prefix(source, s3_client=s3_client, page_size=page_size)
        return
    path = Path(source.removeprefix("file://")).expanduser()
    if path.is_dir():
        yield from list_folder(path)
    elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
        yield from read_manifest(path)
    elif path.is_file() and is_image_name(path.name):
        yield local_ref(path.resolve())
    elif path.exists():
        raise SourceError(f"cannot list {source}: not a folder, an image or a .txt/.csv manifest")
    elif "://" in source:
        raise SourceError(f"cannot list {source}: unsupported URI scheme (use s3:// or a local path)")
    else:
        raise SourceError(f"cannot list {source}: no such file or folder")


def list_folder(folder: Path) -> Iterator[PhotoRef]:
    """Every image under `folder`, recursively, sorted; symlinks leaving the folder are skipped."""
    root = folder.resolve()
    try:
        names = _walk_sorted(root)
    except OSError as exc:
        raise SourceError(f"cannot list {folder}: {exc.strerror or exc}") from None
    for path in names:
        resolved = path.resolve()
        if resolved.is_relative_to(root) and resolved.is_file():
            yield local_ref(path)


def _walk_sorted(root: Path) -> list[Path]:
    def raise_error(exc: OSError) -> None:
        raise exc

    found = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=raise_error):
        dirnames.sort()
        found.extend(Path(dirpath, name) for name in filenames if is_image_name(name))
    return sorted(found)


def local_ref(path: Path) -> PhotoRef:
    """A ref for a local file; a missing file still gets a ref (it becomes an `error` row)."""
    try:
        stat = path.stat()
    except OSError:
        return PhotoRef(uri=str(path))
    return PhotoRef(uri=str(path), etag=f"{stat.st_mtime_ns:x}-{stat.st_size:x}", size=stat.st_size)


def _fetch_s3_manifest(uri: str, s3_client) -> bytes | None:
    """The manifest object's bytes, or None when no object has exactly that key (then the URI
    is a prefix that happens to end in .txt/.csv)."""
    bucket, key = split_s3_uri(uri)
    try:
        response = s3_client.get_object(Bucket=bucket, Key=key)
        if response.get("ContentLength", 0) > MAX_S3_MANIFEST_BYTES:
            response["Body"].close()
            raise SourceError(f"cannot read manifest {uri}: larger than {MAX_S3_MANIFEST_BYTES} bytes")
        with response["Body"] as body:
            return body.read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise SourceError(f"cannot read manifest {uri}: {describe_s3_error(exc, s3_client)}") from None
    except BotoCoreError as exc:
        raise SourceError(f"cannot read manifest {uri}: {describe_s3_error(exc, s3_client)}") from None


def list_s3_prefix(source: str, *, s3_client, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[PhotoRef]:
    """Paginated ListObjectsV2 under the prefix, keeping each object's ETag and size."""
    bucket, prefix = split_s3_uri(source)
    paginator = s3_client.get_paginator("list_objects_v2")
    pages = paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size})
    try:
        for page in pages:
            for obj in page.get("Contents", ()):
                key = obj["Key"]
                if is_image_name(key):
                    etag = obj.get("ETag", "").strip('"') or None
                    yield PhotoRef(uri=f"s3://{bucket}/{key}", etag=etag, size=obj.get("Size"))
    except (ClientError, BotoCoreError) as exc:
        raise SourceError(f"cannot list {source}: {describe_s3_error(exc, s3_client)}") from None


def local_root(source: str) -> Path | None:
    """The folder local fetches of a job must stay inside (`fetch_many(root=...)`).

    A folder source is its own root; a single image's root is its folder. S3 sources and
    manifests have none: a manifest's entries were checked when it was listed.
    """
    if is_s3_uri(source):
        return None
    path = Path(source.removeprefix("file://")).expanduser()
    if path.is_dir():
        return path.resolve()
    if path.is_file() and is_image_name(path.name):
        return path.resolve().parent
    return None
