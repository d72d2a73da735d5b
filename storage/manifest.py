"""Manifests: a `.txt` file with one URI or path per line, or a `.csv` with a uri/path/source column.

Blank lines and lines starting with `#` are skipped; duplicates are listed once. `s3://` URIs
may name any bucket (they are explicit).

- A local manifest: relative paths are resolved against its folder and rejected if they climb
  out of it with `..`; absolute paths and `file://` URIs are taken as written.
- A manifest in S3 (`s3://bucket/lists/nightly.txt`): relative entries are keys under its own
  "folder" (`s3://bucket/lists/`), `..` may not climb out of it; local paths are rejected.
"""

from __future__ import annotations

import csv
import io
import posixpath
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from storage.refs import PhotoRef, SourceError
from storage.s3 import is_s3_uri, split_s3_uri

MANIFEST_SUFFIXES = frozenset({".txt", ".csv"})
CSV_URI_COLUMNS = ("uri", "path", "source")
MAX_S3_MANIFEST_BYTES = 512 * 1024 * 1024


def is_manifest_name(name: str) -> bool:
    return posixpath.splitext(name)[1].lower() in MANIFEST_SUFFIXES


def read_manifest(manifest: Path) -> Iterator[PhotoRef]:
    """Yield one PhotoRef per entry of a local manifest, in file order."""
    base = manifest.parent.resolve()
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as handle:
            yield from parse_manifest(handle, name=str(manifest), resolve=lambda e: resolve_local_entry(e, base))
    except OSError as exc:
        raise SourceError(f"cannot read manifest {manifest}: {exc.strerror or exc}") from None


def read_s3_manifest(uri: str, body: bytes) -> Iterator[PhotoRef]:
    """Yield one PhotoRef per entry of a manifest fetched from `uri`."""
    bucket, key = split_s3_uri(uri)
    folder = posixpath.dirname(key)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError(f"cannot read manifest {uri}: not UTF-8 text") from None
    handle = io.StringIO(text, newline="")
    yield from parse_manifest(handle, name=uri, resolve=lambda e: resolve_s3_entry(e, bucket, folder))


def parse_manifest(handle, *, name: str, resolve: Callable[[str], PhotoRef]) -> Iterator[PhotoRef]:
    """Entries of an open manifest -> PhotoRefs; SourceError names `name:line` for a bad entry."""
    entries = _csv_entries(handle, name) if name.lower().endswith(".csv") else handle
    seen: set[str] = set()
    try:
        for line_no, raw in _numbered(entries):
            entry = raw.strip()
            if not entry or entry.startswith("#"):
                continue
            try:
                ref = resolve(entry)
            except SourceError as exc:
                raise SourceError(f"{name}:{line_no}: {exc}") from None
            if ref.uri not in seen:
                seen.add(ref.uri)
                yield ref
    except UnicodeDecodeError:
        raise SourceError(f"cannot read manifest {name}: not UTF-8 text") from None


def _numbered(entries: Iterable[str]) -> Iterator[tuple[int, str]]:
    # Line numbers for error messages; a CSV's header is line 1.
    yield from enumerate(entries, start=1)


def _csv_entries(handle, name: str) -> Iterator[str]:
    reader = csv.DictReader(handle)
    columns = {field.strip().lower(): field for field in (reader.fieldnames or []) if field}
    column = next((columns[c] for c in CSV_URI_COLUMNS if c in columns), None)
    if column is None:
        raise SourceError(f"cannot read manifest {name}: no 'uri', 'path' or 'source' column")
    yield "# header"
    for row in reader:
        yield row.get(column) or ""


def _explicit_s3(entry: str) -> PhotoRef:
    split_s3_uri(entry)  # raises SourceError for a malformed URI
    return PhotoRef(uri=entry)


def resolve_local_entry(entry: str, base: Path) -> PhotoRef:
    """One entry of a local manifest whose folder is `base` (resolved)."""
    from storage.listing import local_ref  # local import: listing imports this module

    if is_s3_uri(entry):
        return _explicit_s3(entry)
    if "://" in entry and not entry.startswith("file://"):
        raise SourceError(f"unsupported URI {entry!r} (use s3://, file:// or a path)")
    path = Path(entry.removeprefix("file://")).expanduser()
    if not path.is_absolute():
        path = (base / path).resolve()
        if not path.is_relative_to(base):
            raise SourceError(f"{entry!r} escapes the manifest's folder")
    return local_ref(path)


def resolve_s3_entry(entry: str, bucket: str, folder: str) -> PhotoRef:
    """One entry of a manifest stored in S3 under `folder` (a key prefix without trailing /)."""
    if is_s3_uri(entry):
        return _explicit_s3(entry)
    if "://" in entry or entry.startswith("/"):
        raise SourceError(f"{entry!r}: a manifest in S3 may list s3:// URIs or keys relative to it, not local paths")
    key = posixpath.normpath(posixpath.join(folder, entry))
    if key.startswith("../") or key == ".." or (folder and not key.startswith(folder + "/")):
        raise SourceError(f"{entry!r} escapes the manifest's folder")
    return PhotoRef(uri=f"s3://{bucket}/{key}")
