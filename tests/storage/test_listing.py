"""Listing local folders, single files and manifests (no services)."""

import os
from pathlib import Path

import pytest

from storage.listing import list_photos, local_root
from storage.refs import PhotoRef, SourceError


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "photos"
    for name in ["b.jpg", "a.JPEG", "sub/c.png", "sub/deeper/d.TIFF", "e.webp", "f.bmp", "g.tif", "h.HEIC", "i.avif"]:
        touch(root / name, b"12345")
    for name in ["notes.txt", "h.gif", "sub/readme.md", "noext"]:
        touch(root / name)
    return root


def test_folder_lists_images_recursively_sorted_as_absolute_paths(folder):
    refs = list(list_photos(str(folder)))
    uris = [ref.uri for ref in refs]
    assert uris == sorted(uris)
    names = [Path(uri).relative_to(folder.resolve()).as_posix() for uri in uris]
    assert names == ["a.JPEG", "b.jpg", "e.webp", "f.bmp", "g.tif", "h.HEIC", "i.avif", "sub/c.png", "sub/deeper/d.TIFF"]
    assert all(os.path.isabs(uri) for uri in uris)
    assert all(ref.size == 5 and ref.etag for ref in refs)


def test_local_etag_changes_when_the_file_changes(folder):
    before = {r.uri: r.etag for r in list_photos(str(folder))}
    target = folder / "b.jpg"
    target.write_bytes(b"123456")
    after = {r.uri: r.etag for r in list_photos(str(folder))}
    assert before[str(target.resolve())] != after[str(target.resolve())]
    assert sum(before[u] != after[u] for u in before) == 1


def test_folder_skips_symlinks_that_leave_it(folder, tmp_path):
    outside = touch(tmp_path / "secret" / "x.jpg")
    (folder / "link.jpg").symlink_to(outside)
    (folder / "linkdir").symlink_to(outside.parent, target_is_directory=True)
    names = {Path(ref.uri).relative_to(folder.resolve()).as_posix() for ref in list_photos(str(folder))}
    assert "b.jpg" in names
    assert not {"link.jpg", "linkdir/x.jpg"} & names


def test_missing_folder_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="no such file or folder"):
        list(list_photos(str(tmp_path / "nope")))


def test_an_empty_source_is_refused_rather_than_read_as_the_working_directory(folder, monkeypatch):
    monkeypatch.chdir(folder)  # holds images: an empty source must not list them
    for source in ("", "  "):
        with pytest.raises(SourceError, match="empty source"):
            list(list_photos(source))


def test_unsupported_scheme_and_non_image_file(tmp_path):
    with pytest.raises(SourceError, match="unsupported URI scheme"):
        list(list_photos("gs://bucket/prefix"))
    other = touch(tmp_path / "data.json")
    with pytest.raises(SourceError, match="not a folder"):
        list(list_photos(str(other)))


def test_single_image_file_and_file_uri(folder):
    target = (folder / "b.jpg").resolve()
    assert [r.uri for r in list_photos(str(target))] == [str(target)]
    assert [r.uri for r in list_photos(f"file://{target}")] == [str(target)]


def test_s3_source_without_client_is_a_source_error():
    with pytest.raises(SourceError, match="no S3 client"):
        list(list_photos("s3://bucket/prefix"))


def test_local_root(folder):
    assert local_root(str(folder)) == folder.resolve()
    assert local_root(str(folder / "b.jpg")) == folder.resolve()
    assert local_root("s3://bucket/p") is None


def test_photo_ref_is_frozen_and_hashable():
    ref = PhotoRef("s3://b/k.jpg", etag="e", size=1)
    assert {ref, PhotoRef("s3://b/k.jpg", etag="e", size=1)} == {ref}
    with pytest.raises(AttributeError):
        ref.uri = "other"  # type: ignore[misc]
