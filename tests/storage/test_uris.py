import pytest

from storage.refs import SourceError
from storage.s3 import is_s3_uri, split_s3_uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/key.jpg", ("bucket", "key.jpg")),
        ("s3://bucket/a/b/c.JPG", ("bucket", "a/b/c.JPG")),
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://my.bucket-1/prefix/", ("my.bucket-1", "prefix/")),
    ],
)
def test_split_s3_uri(uri, expected):
    assert split_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["s3://", "s3:///key", "s3://ab/x", "s3://bad bucket/x", "http://b/k", "bucket/key"])
def test_split_s3_uri_rejects_malformed(uri):
    with pytest.raises(SourceError) as raised:
        split_s3_uri(uri)
    assert uri in str(raised.value) or repr(uri) in str(raised.value)


def test_is_s3_uri():
    assert is_s3_uri("s3://b/k")
    assert not is_s3_uri("/data/s3://b")
    assert not is_s3_uri("S3:/b/k")


def test_endpoint_description_drops_userinfo():
    from types import SimpleNamespace

    from storage.s3 import describe_endpoint

    def client(url):
        return SimpleNamespace(meta=SimpleNamespace(endpoint_url=url))

    assert describe_endpoint(client("http://minio:9000")) == "http://minio:9000"
    assert describe_endpoint(client("https://key:secret@minio.example/s3")) == "https://minio.example/s3"
