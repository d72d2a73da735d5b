"""The boto3 client factory and S3 URI helpers. One client per process, passed down."""

from __future__ import annotations

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from storage.refs import SourceError

DEFAULT_MAX_ATTEMPTS = 5  # first try included; standard mode backs off exponentially, retries throttling
DEFAULT_CONNECT_TIMEOUT_S = 5
DEFAULT_READ_TIMEOUT_S = 60


def make_s3_client(*, endpoint_url: str | None, max_pool_connections: int):
    """A thread-safe S3 client whose connection pool matches the fetch concurrency.

    Credentials come from boto3's chain (AWS_* env vars, profiles, instance roles).
    Creating it does not reach the network.
    """
    config = Config(
        retries={"mode": "standard", "total_max_attempts": DEFAULT_MAX_ATTEMPTS},
        max_pool_connections=max(1, max_pool_connections),
        connect_timeout=DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout=DEFAULT_READ_TIMEOUT_S,
        # Path-style works with MinIO, Ceph and moto without wildcard DNS.
        s3={"addressing_style": "path"} if endpoint_url else None,
    )
    # A Session per client: boto3's default session is not thread-safe to create clients from.
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)


def is_s3_uri(uri: str) -> bool:
    return uri.startswith("s3://")


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/key.jpg` -> (`bucket`, `some/key.jpg`); the key may be empty (a prefix)."""
    if not is_s3_uri(uri):
        raise SourceError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket or "/" in bucket or not _looks_like_bucket(bucket):
        raise SourceError(f"bad S3 URI {uri!r}: expected s3://bucket/prefix")
    return bucket, key


def _looks_like_bucket(name: str) -> bool:
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789.-_")
    return 3 <= len(name) <= 255 and set(name.lower()) <= allowed


def describe_endpoint(s3_client) -> str:
    """The endpoint a client talks to, for error messages (user:password@ stripped if present)."""
    endpoint = str(getattr(s3_client.meta, "endpoint_url", None) or "AWS S3")
    scheme, sep, rest = endpoint.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}{sep}{host.rpartition('@')[2]}{slash}{path}" if sep else endpoint


def describe_s3_error(exc: Exception, s3_client) -> str:
    """A short reason for an S3 failure that never includes credentials."""
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return f"endpoint {describe_endpoint(s3_client)} unreachable"
    if isinstance(exc, ReadTimeoutError):
        return f"endpoint {describe_endpoint(s3_client)} timed out"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return "no S3 credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile)"
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        return S3_ERROR_REASONS.get(code, f"S3 error {code or 'unknown'}")
    return type(exc).__name__


S3_ERROR_REASONS = {
    "NoSuchBucket": "bucket does not exist",
    "NoSuchKey": "no such object",
    "404": "no such object",
    "AccessDenied": "access denied",
    "403": "access denied",
    "InvalidAccessKeyId": "access key not recognised",
    "SignatureDoesNotMatch": "secret key does not match",
    "SlowDown": "throttled (SlowDown) after retries",
    "Throttling": "throttled after retries",
    "RequestTimeout": "request timed out",
}
