"""End to end: S3 (moto) -> producer -> Redis -> a real `meter-ocr worker` -> Postgres.

200 photos whose statuses we control: meter-like JPEGs and blank frames (readable inputs: the tiny
untrained reader's verdicts are compared with the same pipeline run in this process), text files
and zero-byte files named .jpg (`error` with the reason), and a manifest naming missing objects.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
from collections import Counter

import pytest

from tests.integration.harness import Stack, Worker
from tests.integration.photos import NOT_AN_IMAGE, blank_jpeg, meter_jpeg

pytestmark = [pytest.mark.integration, pytest.mark.model]

GOOD, BLANK, TEXT, EMPTY = 170, 10, 10, 10  # 200 photos in all
BATCH_SIZE = "25"


@pytest.fixture(scope="module")
def photos(s3_client) -> dict:
    """Upload the 200 photos; returns {"bucket": name, "kinds": {uri: kind}}."""
    bucket = f"meters-{secrets.token_hex(4)}"
    s3_client.create_bucket(Bucket=bucket)
    kinds = {}
    plan = [("good", i, meter_jpeg(i)) for i in range(GOOD)]
    plan += [("good", GOOD + i, blank_jpeg(60 + 10 * i)) for i in range(BLANK)]
    plan += [("bad", i, NOT_AN_IMAGE) for i in range(TEXT)]
    plan += [("bad", TEXT + i, b"") for i in range(EMPTY)]
    for folder, index, body in plan:
        key = f"site-7/{folder}/{index:05d}.jpg"
        s3_client.put_object(Bucket=bucket, Key=key, Body=body)
        kind = "blank" if index >= GOOD and folder == "good" else folder
        kinds[f"s3://{bucket}/{key}"] = {"good": "meter", "bad": "text" if index < TEXT else "empty"}.get(kind, kind)
    return {"bucket": bucket, "kinds": kinds}


@pytest.fixture(scope="module")
def stack_and_worker(postgres_server, redis_url, s3_endpoint, tiny_model_dir, tmp_path_factory):
    stack = Stack(database_url=postgres_server.create_database(), broker_url=redis_url, s3_endpoint=s3_endpoint,
                  model_dir=tiny_model_dir, queue=f"e2e-{secrets.token_hex(4)}")
    worker = Worker(stack, tmp_path_factory.mktemp("logs") / "worker.log", name="e2e", concurrency=2, via_cli=True)
    try:
        worker.wait_ready(children=2)
        yield stack, worker
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def stack(stack_and_worker):
    return stack_and_worker[0]


@pytest.fixture(scope="module")
def first_job(stack, photos) -> dict:
    source = f"s3://{photos['bucket']}/site-7/"
    result = stack.cli("enqueue", source, "--batch-size", BATCH_SIZE, "--wait", "--timeout", "400", timeout=450)
    job_id = result.stdout.splitlines()[0].strip()
    return {"job_id": job_id, "source": source, "stdout": result.stdout, "rows": stack.rows(job_id)}


def test_every_photo_ends_as_exactly_one_row_with_the_right_status(first_job, photos):
    rows = first_job["rows"]
    kinds = photos["kinds"]
    assert len(rows) == 200
    assert sorted(row["source"] for row in rows) == sorted(kinds)
    for row in rows:
        kind = kinds[row["source"]]
        if kind == "text":
            assert (row["status"], row["reason"]) == ("error", "not an image"), row
        elif kind == "empty":
            assert (row["status"], row["reason"]) == ("error", "empty file"), row
        elif kind == "blank":
            assert row["status"] == "unreadable", row
        else:
            assert row["status"] in ("accepted", "review", "unreadable"), row
        assert row["model_version"] == "untrained-tiny"
        assert row["processing_ms"] is not None and row["processing_ms"] >= 0


def test_worker_verdicts_equal_the_pipeline_run_here(first_job, photos, s3_client, tiny_model_dir):
    """The worker adds transport, not judgement: same bytes, same model -> same readings."""
    from model.runtime import load_models
    from producer.settings import Settings
    from storage.refs import PhotoRef
    from workers.batch import read_photos

    models = load_models(tiny_model_dir)
    refs = [PhotoRef(uri) for uri in sorted(photos["kinds"])]
    here = read_photos(refs, models=models, s3_client=s3_client, settings=Settings())
    by_source = {row["source"]: row for row in first_job["rows"]}
    for outcome in here:
        row = by_source[outcome.uri]
        assert row["status"] == outcome.reading.status.value
        assert row["reading"] == outcome.reading.reading
        assert row["reason"] == outcome.reading.reason
        if outcome.reading.confidence is not None:
            assert row["confidence"] == pytest.approx(outcome.reading.confidence, abs=1e-5)


def test_pool_children_share_the_cores_between_their_tensorflow_threads(stack_and_worker):
    from workers.launch import tf_threads_per_process

    _, worker = stack_and_worker
    assert worker.log().count(f"TensorFlow threads {tf_threads_per_process(2)})") == 2


def test_job_counts_match_the_rows(stack, first_job):
    from results.db import make_engine, make_session_factory
    from results.repository import get_job

    engine = make_engine(stack.database_url)
    try:
        with make_session_factory(engine)() as session:
            job = get_job(session=session, job_id=first_job["job_id"])
    finally:
        engine.dispose()
    rows = Counter(row["status"] for row in first_job["rows"])
    assert job.state == "done" and job.total == 200 and job.batches_owed == 0
    assert {status: n for status, n in job.counts.items() if n} == dict(rows)
    assert "photos: 200/200 done" in first_job["stdout"]  # the --wait summary


def test_reenqueue_skips_what_was_read(stack, first_job, photos):
    good = f"s3://{photos['bucket']}/site-7/good/"
    result = stack.cli("enqueue", good, "--wait", "--timeout", "60")
    assert "skipped 180 already read" in result.stderr and "queued 0 batches" in result.stderr
    assert stack.rows(result.stdout.splitlines()[0]) == []
    # The whole source again: only the `error` photos are tried again (a missing object may exist tonight).
    again = stack.cli("enqueue", first_job["source"], "--wait", "--timeout", "240", timeout=300)
    rows = stack.rows(again.stdout.splitlines()[0])
    assert sorted(r["source"] for r in rows) == sorted(u for u, k in photos["kinds"].items() if k in ("text", "empty"))
    assert {r["status"] for r in rows} == {"error"}


def test_force_reads_everything_again(stack, first_job):
    result = stack.cli("enqueue", first_job["source"], "--force", "--batch-size", "50", "--wait",
                       "--timeout", "400", timeout=450)
    assert "skipped 0 already read" in result.stderr
    forced = {row["source"]: row for row in stack.rows(result.stdout.splitlines()[0])}
    assert len(forced) == 200
    for row in first_job["rows"]:
        assert (forced[row["source"]]["status"], forced[row["source"]]["reading"]) == (row["status"], row["reading"])


def test_exports_round_trip(stack, first_job):
    job_id = first_job["job_id"]
    jsonl = [json.loads(line) for line in stack.cli("results", job_id, "--format", "jsonl").stdout.splitlines()]
    table = list(csv.DictReader(io.StringIO(stack.cli("results", job_id, "--format", "csv").stdout)))
    assert len(jsonl) == len(table) == 200
    for from_json, from_csv in zip(jsonl, table, strict=True):
        assert from_csv["source"] == from_json["source"]
        assert from_csv["status"] == from_json["status"]
        assert (from_csv["reading"] or None) == from_json["reading"]
        assert (from_csv["reason"] or None) == from_json["reason"]
        assert json.loads(from_csv["digits"]) == from_json["digits"]
        if from_json["confidence"] is None:
            assert from_csv["confidence"] == ""
        else:
            assert float(from_csv["confidence"]) == from_json["confidence"]
    errors = stack.cli("results", job_id, "--status", "error", "--format", "jsonl").stdout.splitlines()
    assert len(errors) == TEXT + EMPTY


def test_missing_objects_in_a_manifest_become_error_rows(stack, photos, tmp_path):
    existing = sorted(uri for uri, kind in photos["kinds"].items() if kind == "meter")[:3]
    missing = [f"s3://{photos['bucket']}/site-7/gone/{i}.jpg" for i in range(3)]
    manifest = tmp_path / "tonight.txt"
    manifest.write_text("\n".join(existing + missing) + "\n")
    result = stack.cli("enqueue", str(manifest), "--force", "--wait", "--timeout", "120")
    rows = {row["source"]: row for row in stack.rows(result.stdout.splitlines()[0])}
    assert sorted(rows) == sorted(existing + missing)
    for uri in missing:
        assert rows[uri]["status"] == "error" and "no such object" in rows[uri]["reason"]
    for uri in existing:
        assert rows[uri]["status"] != "error"


def test_resume_requeues_owed_batches_after_the_queue_is_lost(stack, photos, redis_url):
    """Redis without persistence restarted: the queue is gone, the results DB still knows."""
    import redis

    parked = "parked-" + secrets.token_hex(4)  # no worker listens here
    source = f"s3://{photos['bucket']}/site-7/good/"
    result = stack.cli("enqueue", source, "--force", "--batch-size", "40", METER_OCR_QUEUE=parked)
    job_id = result.stdout.splitlines()[0]
    client = redis.Redis.from_url(redis_url)
    assert client.llen(parked) == 5  # 180 photos / 40 per batch
    client.delete(parked)  # the broker forgot everything
    status = stack.cli("status", job_id).stdout
    assert "photos: 0/180 done" in status
    resumed = stack.cli("resume", job_id, "--wait", timeout=300)
    assert "re-queued 5 owed batches" in resumed.stdout
    assert len(stack.rows(job_id)) == 180
    assert "re-queued 0 owed batches" in stack.cli("resume", job_id).stdout
