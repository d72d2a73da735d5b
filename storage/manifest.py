"""Manifests: a `.txt` file with one URI or path per line, or a `.csv` with a uri/path/source column.

Blank lines and lines starting with `#` are skipped. `s3://` URIs may name any bucket (they are
explicit). Relative paths are resolved against the manifest's folder and rejected if they climb
out of it with `..`; absolute paths and `file://` URIs are taken as written.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path

from storage.refs import PhotoRef, SourceError
from storage.s3 import is_s3_uri, split_s3_uri

MANIFEST_SUFFIXES = frozenset({".txt", ".csv"})
CSV_URI_COLUMNS = ("uri", "path", "source")


def read_manifest(manifest: Path) -> Iterator[PhotoRef]:
    """Yield one PhotoRef per entry, in file order, duplicates dropped."""
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as handle:
            entries = _csv_entries(handle, manifest) if manifest.suffix.lower() == ".csv" else handle
            seen: set[str] = set()
            for line_no, raw in _numbered(entries):
                entry = raw.strip()
                if not entry or entry.startswith("#"):
                    continue
                ref = resolve_entry(entry, manifest.parent, where=f"{manifest}:{line_no}")
                if ref.uri not in seen:
                    seen.add(ref.uri)
                    yield ref
    except OSError as exc:
        raise SourceError(f"cannot read manifest {manifest}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SourceError(f"cannot read manifest {manifest}: not UTF-8 text") from None


def _numbered(entries: Iterable[str]) -> Iterator[tuple[int, str]]:
    # Line numbers for error messages; a CSV's header is line 1.
    yield from enumerate(entries, start=1)


def _csv_entries(handle, manifest: Path) -> Iterator[str]:
    reader = csv.DictReader(handle)
    columns = {name.strip().lower(): name for name in (reader.fieldnames or []) if name}
    column = next((columns[c] for c in CSV_URI_COLUMNS if c in columns), None)
    if column is None:
        raise SourceError(f"cannot read manifest {manifest}: no 'uri', 'path' or 'source' column")
    yield "# header"
    for row in reader:
        yield row.get(column) or ""


def resolve_entry(entry: str, base: Path, *, where: str) -> PhotoRef:
    """One manifest entry -> PhotoRef; raises SourceError naming `where` for a bad entry."""
    from storage.listing import local_ref  # local import: listing imports this module

    if is_s3_uri(entry):
        try:
            split_s3_uri(entry)
        except SourceError as exc:
            raise SourceError(f"{where}: {exc}") from None
        return PhotoRef(uri=entry)
    if "://" in entry and not entry.startswith("file://"):
        raise SourceError(f"{where}: unsupported URI {entry!r} (use s3://, file:// or a path)")
    path = Path(entry.removeprefix("file://")).expanduser()
    if not path.is_absolute():
        root = base.resolve()
        path = (root / path).resolve()
        if not path.is_relative_to(root):
            raise SourceError(f"{where}: {entry!r} escapes the manifest's folder")
    return local_ref(path)
