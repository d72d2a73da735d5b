"""Manifests: .txt and .csv, comments, relative paths, escapes, other buckets."""

from pathlib import Path

import pytest

from storage.listing import list_photos
from storage.refs import SourceError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_txt_manifest_skips_blanks_and_comments_and_resolves_relative_paths(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.jpg").write_bytes(b"abc")
    manifest = write(tmp_path / "list.txt", "# nightly batch\n\nimgs/a.jpg\n  s3://other-bucket/p/1.jpg  \n#s3://x/y.jpg\n")
    refs = list(list_photos(str(manifest)))
    assert [r.uri for r in refs] == [str((tmp_path / "imgs" / "a.jpg").resolve()), "s3://other-bucket/p/1.jpg"]
    assert refs[0].size == 3 and refs[0].etag
    assert refs[1].etag is None and refs[1].size is None


def test_missing_entries_are_listed_for_an_error_row_later(tmp_path):
    manifest = write(tmp_path / "m.txt", "gone.jpg\n")
    refs = list(list_photos(str(manifest)))
    assert [r.uri for r in refs] == [str(tmp_path.resolve() / "gone.jpg")]
    assert refs[0].size is None


def test_duplicate_entries_are_listed_once(tmp_path):
    manifest = write(tmp_path / "m.txt", "s3://bk1/x.jpg\ns3://bk1/x.jpg\n./a.jpg\na.jpg\n")
    assert len(list(list_photos(str(manifest)))) == 2


@pytest.mark.parametrize("entry", ["../outside.jpg", "imgs/../../outside.jpg", "imgs/../../../etc/passwd"])
def test_relative_paths_may_not_escape_the_manifest_folder(tmp_path, entry):
    manifest = write(tmp_path / "job" / "m.txt", f"ok.jpg\n{entry}\n")
    with pytest.raises(SourceError, match=r"m.txt:2: .*escapes the manifest's folder"):
        list(list_photos(str(manifest)))


def test_dotdot_that_stays_inside_is_fine(tmp_path):
    manifest = write(tmp_path / "m.txt", "imgs/../b.jpg\n")
    assert [r.uri for r in list_photos(str(manifest))] == [str(tmp_path.resolve() / "b.jpg")]


def test_absolute_paths_and_file_uris_are_taken_as_written(tmp_path):
    manifest = write(tmp_path / "job" / "m.txt", f"{tmp_path}/x.jpg\nfile://{tmp_path}/y.jpg\n")
    assert [r.uri for r in list_photos(str(manifest))] == [f"{tmp_path}/x.jpg", f"{tmp_path}/y.jpg"]


@pytest.mark.parametrize("entry", ["http://host/x.jpg", "gs://bucket/x.jpg", "s3://", "s3:///key.jpg"])
def test_unsupported_or_malformed_uris_are_rejected_with_their_line(tmp_path, entry):
    manifest = write(tmp_path / "m.txt", f"\n{entry}\n")
    with pytest.raises(SourceError, match=r"m.txt:2"):
        list(list_photos(str(manifest)))


@pytest.mark.parametrize("column", ["uri", "path", "source", "URI", " Path "])
def test_csv_manifest_uses_the_uri_column(tmp_path, column):
    manifest = write(tmp_path / "m.csv", f"id,{column},label\n1,s3://bk1/a.jpg,0042\n2,,x\n3,rel/b.png,0001\n")
    uris = [r.uri for r in list_photos(str(manifest))]
    assert uris == ["s3://bk1/a.jpg", str(tmp_path.resolve() / "rel" / "b.png")]


def test_csv_without_a_uri_column_is_a_source_error(tmp_path):
    manifest = write(tmp_path / "m.csv", "file,label\na.jpg,1\n")
    with pytest.raises(SourceError, match="no 'uri', 'path' or 'source' column"):
        list(list_photos(str(manifest)))


def test_csv_with_a_bom_is_read(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_bytes("\ufeffuri\ns3://bk1/a.jpg\n".encode())
    assert [r.uri for r in list_photos(str(manifest))] == ["s3://bk1/a.jpg"]


def test_missing_manifest_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        list(list_photos(str(tmp_path / "missing.txt")))


def test_binary_manifest_is_a_source_error(tmp_path):
    manifest = tmp_path / "m.txt"
    manifest.write_bytes(b"\xff\xfe\x00garbage\x80")
    with pytest.raises(SourceError, match="not UTF-8"):
        list(list_photos(str(manifest)))


@pytest.mark.parametrize(
    ("entry", "uri"),
    [
        ("a.jpg", "s3://bk/lists/a.jpg"),
        ("site/b.jpg", "s3://bk/lists/site/b.jpg"),
        ("site/../c.jpg", "s3://bk/lists/c.jpg"),
        ("s3://elsewhere/d.jpg", "s3://elsewhere/d.jpg"),
    ],
)
def test_s3_manifest_entries_resolve_under_its_folder(entry, uri):
    from storage.manifest import resolve_s3_entry

    assert resolve_s3_entry(entry, "bk", "lists").uri == uri


@pytest.mark.parametrize("entry", ["../x.jpg", "a/../../x.jpg", "/etc/passwd", "file:///etc/passwd", "gs://b/x.jpg"])
def test_s3_manifest_rejects_escapes_and_local_paths(entry):
    from storage.manifest import resolve_s3_entry

    with pytest.raises(SourceError):
        resolve_s3_entry(entry, "bk", "lists")
