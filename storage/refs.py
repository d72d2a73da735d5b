"""The photo reference every part passes around, and the one error a photo source raises."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PhotoRef:
    """Where one photo lives, with what the source told us about it when it was listed.

    `uri` is `s3://bucket/key` for objects and an absolute POSIX path for local files.
    `etag` is the S3 ETag (quotes stripped) or, for local files, `"<mtime_ns hex>-<size hex>"`,
    so a file or object that changed is read again on re-enqueue.
    """

    uri: str
    etag: str | None = None
    size: int | None = None


class SourceError(Exception):
    """A photo source cannot be listed or is malformed.

    The message is one operator-facing line that names what failed (never credentials), e.g.
    `cannot list s3://bucket/prefix: endpoint http://localhost:9000 unreachable`.
    """
