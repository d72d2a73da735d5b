"""Listing and fetching against a real S3 HTTP endpoint (moto's server), with injected faults."""

import pytest

from storage.fetch import FetchFailed, fetch_many
from storage.listing import list_photos
from storage.refs import PhotoRef, SourceError
from storage.s3 import make_s3_client
from tests.s3_faults import FaultyS3Proxy
from tests.services import free_port

pytestmark = pytest.mark.integration


def count_calls(client, operation: str) -> list:
    calls = []
    client.meta.events.register(f"before-call.s3.{operation}", lambda **kw: calls.append(1))
    return calls


def test_listing_is_paginated_and_keeps_etag_and_size(s3_endpoint, make_bucket, upload_photos):
    bucket = make_bucket()
    uris = upload_photos(bucket, 25, prefix="site-a/")
    upload_photos(bucket, 3, prefix="site-b/")
    client = make_s3_client(endpoint_url=s3_endpoint, max_pool_connections=4)
    client.put_object(Bucket=bucket, Key="site-a/notes.txt", Body=b"not a photo")
    client.put_object(Bucket=bucket, Key="site-a/UPPER.JPG", Body=b"jpeg-ish")
    calls = count_calls(client, "ListObjectsV2")
    refs = list(list_photos(f"s3://{bucket}/site-a/", s3_client=client, page_size=7))
    assert len(calls) == 4  # 27 keys in pages of 7: pagination really happened
    assert [r.uri for r in refs] == sorted(uris + [f"s3://{bucket}/site-a/UPPER.JPG"])
    head = client.head_object(Bucket=bucket, Key="site-a/00003.png")
    ref = next(r for r in refs if r.uri.endswith("00003.png"))
    assert ref.etag == head["ETag"].strip('"') and ref.size == head["ContentLength"]


def test_whole_bucket_listing_and_empty_prefix(s3_client, make_bucket, upload_photos):
    bucket = make_bucket()
    upload_photos(bucket, 5, prefix="")
    assert len(list(list_photos(f"s3://{bucket}", s3_client=s3_client))) == 5
    assert list(list_photos(f"s3://{bucket}/nothing-here/", s3_client=s3_client)) == []


def test_missing_bucket_is_a_one_line_source_error(s3_client):
    with pytest.raises(SourceError) as raised:
        list(list_photos("s3://no-such-bucket-here/p/", s3_client=s3_client))
    assert str(raised.value) == "cannot list s3://no-such-bucket-here/p/: bucket does not exist"


def test_unreachable_endpoint_names_the_endpoint():
    endpoint = f"http://127.0.0.1:{free_port()}"
    client = make_s3_client(endpoint_url=endpoint, max_pool_connections=1)
    with pytest.raises(SourceError) as raised:
        list(list_photos("s3://bucket/p", s3_client=client))
    assert str(raised.value) == f"cannot list s3://bucket/p: endpoint {endpoint} unreachable"


def test_missing_credentials_are_named_not_leaked(s3_endpoint, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = make_s3_client(endpoint_url=s3_endpoint, max_pool_connections=1)
    with pytest.raises(SourceError, match="no S3 credentials"):
        list(list_photos("s3://bucket/p", s3_client=client))


def test_fetch_keeps_order_and_reports_missing_and_too_large(s3_client, make_bucket, upload_photos):
    bucket = make_bucket()
    uris = upload_photos(bucket, 40, payload=lambda i: bytes([i % 256]) * (100 + i))
    refs = [PhotoRef(u) for u in reversed(uris)]
    refs.insert(5, PhotoRef(f"s3://{bucket}/photos/missing.jpg"))
    refs.append(PhotoRef(uris[0], size=10_000))  # listed size over the limit: never downloaded
    got = fetch_many(refs, s3_client=s3_client, concurrency=8, max_bytes=130)
    expected = [bytes([i % 256]) * (100 + i) for i in reversed(range(40))]
    expected = [e if len(e) <= 130 else FetchFailed(f"too large: {len(e)} bytes (limit 130)") for e in expected]
    expected.insert(5, FetchFailed("no such object"))
    expected.append(FetchFailed("too large: 10000 bytes (limit 130)"))
    assert got == expected


def test_throttling_is_retried_then_reported(s3_endpoint, make_bucket, upload_photos):
    bucket = make_bucket()
    uris = upload_photos(bucket, 3)
    proxy = FaultyS3Proxy(s3_endpoint).start()
    try:
        client = make_s3_client(endpoint_url=proxy.endpoint, max_pool_connections=4)
        proxy.fail("GET", f"/{bucket}/photos/00000.png", code="SlowDown", times=2)  # a burst, then fine
        proxy.fail("GET", f"/{bucket}/photos/00001.png", code="SlowDown")  # throttled for good
        proxy.fail("GET", f"/{bucket}/photos/00002.png", status=403, code="AccessDenied")
        got = fetch_many([PhotoRef(u) for u in uris], s3_client=client, concurrency=3, max_bytes=10_000)
        assert isinstance(got[0], bytes) and got[0].startswith(b"\x89PNG")
        assert got[1:] == [FetchFailed("throttled (SlowDown) after retries", transient=True), FetchFailed("access denied")]
        assert proxy.count("GET", f"/{bucket}/photos/00000.png") == 3
        assert proxy.count("GET", f"/{bucket}/photos/00001.png") == 5  # standard mode: 5 attempts
        assert proxy.count("GET", f"/{bucket}/photos/00002.png") == 1  # denial is not retried
    finally:
        proxy.stop()


def test_listing_survives_a_throttling_burst(s3_endpoint, make_bucket, upload_photos):
    bucket = make_bucket()
    upload_photos(bucket, 12)
    proxy = FaultyS3Proxy(s3_endpoint).start()
    try:
        client = make_s3_client(endpoint_url=proxy.endpoint, max_pool_connections=1)
        proxy.fail("GET", f"/{bucket}", code="SlowDown", times=2)
        assert len(list(list_photos(f"s3://{bucket}/photos/", s3_client=client, page_size=5))) == 12
    finally:
        proxy.stop()


def test_manifest_stored_in_s3(s3_client, make_bucket):
    bucket = make_bucket()
    s3_client.put_object(Bucket=bucket, Key="lists/nightly.csv",
                         Body=b"uri,label\nsite-a/1.jpg,0042\ns3://other-bucket/x.jpg,1\n\nsite-a/1.jpg,0042\n")
    refs = list(list_photos(f"s3://{bucket}/lists/nightly.csv", s3_client=s3_client))
    assert [r.uri for r in refs] == [f"s3://{bucket}/lists/site-a/1.jpg", "s3://other-bucket/x.jpg"]
    s3_client.put_object(Bucket=bucket, Key="lists/bad.txt", Body=b"ok.jpg\n../../escape.jpg\n")
    with pytest.raises(SourceError, match=r"bad.txt:2: .*escapes"):
        list(list_photos(f"s3://{bucket}/lists/bad.txt", s3_client=s3_client))


def test_prefix_ending_in_txt_without_such_object_is_listed_as_a_prefix(s3_client, make_bucket, upload_photos):
    bucket = make_bucket()
    upload_photos(bucket, 2, prefix="export.txt/")
    assert len(list(list_photos(f"s3://{bucket}/export.txt", s3_client=s3_client))) == 2
    with pytest.raises(SourceError, match="bucket does not exist"):
        list(list_photos("s3://no-such-bucket-xyz/list.txt", s3_client=s3_client))
