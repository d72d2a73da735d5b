"""Issue 5 item 3 and RELIABILITY.md fault 10, end to end: every hostile or awkward input goes
through the real producer, Redis, a real worker and Postgres, behind an S3 proxy that throttles.

One S3 manifest names: readable oddities (CMYK, 16-bit, alpha, grey, EXIF-rotated, a PNG named
.jpg, Unicode and spaces in keys), broken files (truncated, zero-byte, text, a 20000x20000
decompression bomb, an object over the byte limit), a missing key, an object in a bucket that
does not exist, two objects throttled longer than the client retries (a burst that passes, and
one that never does). Each ends as one row with the expected status and reason.
"""

from __future__ import annotations

import os
import secrets

import pytest

from tests.faults.checks import Recovery, assert_exactly_once, wait_done
from tests.faults.hostile import broken, variants
from tests.integration.harness import Worker
from tests.integration.photos import meter_jpeg
from tests.s3_faults import FaultyS3Proxy

pytestmark = [pytest.mark.integration, pytest.mark.model, pytest.mark.slow]

MAX_BYTES = 2 * 1024 * 1024
READ = ("accepted", "review", "unreadable")


@pytest.fixture
def bucket_with_everything(s3_client, make_bucket):
    """(bucket, {key: (expected status set, expected reason or None)})."""
    bucket = make_bucket("hostile")
    expect: dict[str, tuple[tuple[str, ...], str | None]] = {}

    def put(key: str, body: bytes, statuses, reason=None) -> None:
        s3_client.put_object(Bucket=bucket, Key=f"in/{key}", Body=body)
        expect[key] = (statuses, reason)

    for name, body in variants().items():
        put(name, body, READ)
    for name, (body, reason) in broken().items():
        put(name, body, ("error",), reason)
    put("größer als erlaubt.jpg", os.urandom(MAX_BYTES + 1), ("error",), f"too large: {MAX_BYTES + 1} bytes (limit {MAX_BYTES})")
    put("zähler 0042 ünïcode.jpg", meter_jpeg(1), READ)
    put("with spaces/and #hash & plus+.jpg", meter_jpeg(2), READ)
    put("throttled-burst.jpg", meter_jpeg(3), READ)
    put("throttled-forever.jpg", meter_jpeg(4), ("error",), "throttled (SlowDown) after retries")
    expect["missing.jpg"] = (("error",), "no such object")
    lines = [*expect, f"s3://no-such-bucket-{secrets.token_hex(3)}/x.jpg"]
    s3_client.put_object(Bucket=bucket, Key="in/list.txt", Body="\n".join(lines).encode())
    return bucket, expect, lines[-1]


def test_every_bad_input_ends_as_one_row_with_its_reason(make_stack, postgres_url, s3_endpoint,
                                                         bucket_with_everything, tmp_path):
    bucket, expect, other_bucket_uri = bucket_with_everything
    proxy = FaultyS3Proxy(s3_endpoint).start()
    proxy.fail("GET", f"/{bucket}/in/throttled-burst.jpg", code="SlowDown", times=7)  # > the client's 5 tries
    proxy.fail("GET", f"/{bucket}/in/throttled-forever.jpg", code="SlowDown")
    stack = make_stack(postgres_url, METER_OCR_S3_ENDPOINT_URL=proxy.endpoint, METER_OCR_MAX_IMAGE_BYTES=str(MAX_BYTES))
    worker = Worker(stack, tmp_path / "worker.log", name="hostile", concurrency=1)
    try:
        worker.wait_ready(children=1)
        clock = Recovery("fault 10: bad inputs + S3 throttling", f"({len(expect) + 1} inputs)")
        clock.fault()
        job_id = stack.cli("enqueue", f"s3://{bucket}/in/list.txt", "--batch-size", "50").stdout.splitlines()[0]
        wait_done(stack, job_id, timeout=300)
        clock.recovered()
        uris = {f"s3://{bucket}/in/{key}" for key in expect} | {other_bucket_uri}
        rows = assert_exactly_once(stack, job_id, uris)
        log = worker.log()
    finally:
        worker.stop()
        proxy.stop()
    for key, (statuses, reason) in expect.items():
        row = rows[f"s3://{bucket}/in/{key}"]
        assert row.status in statuses, (key, row.status, row.reason)
        if reason is not None:
            assert row.reason == reason, (key, row.reason)
    assert (rows[other_bucket_uri].status, rows[other_bucket_uri].reason) == ("error", "bucket does not exist")
    assert "photos left pending (throttled (SlowDown) after retries)" in log  # deferred, not failed at once
    print(f"\nBAD INPUTS tried: {len(expect) + 1}; statuses: "
          + ", ".join(f"{k}={rows[f's3://{bucket}/in/{k}'].status}" for k in sorted(expect)))


def test_manifest_climbing_out_of_its_folder_is_refused_before_any_job(make_stack, postgres_url, s3_client,
                                                                      make_bucket):
    bucket = make_bucket("escape")
    s3_client.put_object(Bucket=bucket, Key="in/a.jpg", Body=meter_jpeg(1))
    s3_client.put_object(Bucket=bucket, Key="secret/b.jpg", Body=meter_jpeg(2))
    s3_client.put_object(Bucket=bucket, Key="in/list.txt", Body=b"a.jpg\n../secret/b.jpg\n")
    stack = make_stack(postgres_url)
    result = stack.cli("enqueue", f"s3://{bucket}/in/list.txt", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: s3://{bucket}/in/list.txt:2: '../secret/b.jpg' escapes the "
                                      "manifest's folder")
    assert "no jobs yet" in stack.cli("status", check=False).stderr
