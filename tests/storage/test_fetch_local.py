"""fetch_many on local files: order, guards and failures (no services)."""

from pathlib import Path

import pytest

from storage.fetch import FetchFailed, fetch_many
from storage.listing import list_photos
from storage.refs import PhotoRef


def fetch(refs, **kwargs):
    options = {"s3_client": None, "concurrency": 8, "max_bytes": 1000} | kwargs
    return fetch_many(refs, **options)


def test_results_come_back_in_input_order_under_concurrency(tmp_path):
    paths = []
    for i in range(60):
        path = tmp_path / f"{i:03d}.jpg"
        path.write_bytes(f"photo-{i}".encode() * (1 + (59 - i)))  # bigger first: finish out of order
        paths.append(path)
    refs = [PhotoRef(str(p)) for p in reversed(paths)]
    got = fetch(refs, concurrency=16, max_bytes=10_000)
    assert got == [p.read_bytes() for p in reversed(paths)]


def test_missing_file_outside_root_and_folder_fail_in_place(tmp_path):
    root = tmp_path / "job"
    root.mkdir()
    good = root / "ok.jpg"
    good.write_bytes(b"ok")
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"secret")
    escape_link = root / "link.jpg"
    escape_link.symlink_to(outside)
    refs = [PhotoRef(str(good)), PhotoRef(str(root / "gone.jpg")), PhotoRef(str(outside)),
            PhotoRef(str(escape_link)), PhotoRef(str(root)), PhotoRef("relative/x.jpg")]
    got = fetch(refs, root=root)
    assert got[0] == b"ok"
    assert [g.reason for g in got[1:]] == [
        "no such file", "outside the job's folder", "outside the job's folder", "is a folder, not a file",
        "not an absolute path",
    ]


def test_without_root_any_absolute_path_is_read(tmp_path):
    outside = tmp_path / "x.jpg"
    outside.write_bytes(b"abc")
    assert fetch([PhotoRef(f"file://{outside}")]) == [b"abc"]


def test_too_large_from_listed_size_without_touching_the_file(tmp_path):
    # The listed size says too large: refused before the (missing) file is even opened.
    got = fetch([PhotoRef(str(tmp_path / "never-opened.jpg"), size=5000)], max_bytes=1000)
    assert got == [FetchFailed("too large: 5000 bytes (limit 1000)")]


def test_too_large_from_the_file_itself(tmp_path):
    big = tmp_path / "big.jpg"
    big.write_bytes(b"x" * 1001)
    got = fetch([PhotoRef(str(big), size=10)], max_bytes=1000)  # a stale listed size is not trusted
    assert got == [FetchFailed("too large: 1001 bytes (limit 1000)")]
    assert fetch([PhotoRef(str(big))], max_bytes=1001) == [b"x" * 1001]


def test_s3_ref_without_a_client_fails_in_place(tmp_path):
    assert fetch([PhotoRef("s3://bucket/k.jpg")]) == [FetchFailed("no S3 client configured")]


def test_empty_input_and_listing_round_trip(tmp_path):
    assert fetch([]) == []
    for name in ("a.jpg", "b.png"):
        (tmp_path / name).write_bytes(name.encode())
    refs = list(list_photos(str(tmp_path)))
    assert fetch(refs, root=tmp_path) == [b"a.jpg", b"b.png"]


@pytest.mark.skipif(__import__("os").geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_permission_denied(tmp_path):
    path = Path(tmp_path / "locked.jpg")
    path.write_bytes(b"x")
    path.chmod(0)
    assert fetch([PhotoRef(str(path))]) == [FetchFailed("permission denied")]
