"""Real `celery worker` processes: the model lives only in pool children, and killed workers
lose no photo (RELIABILITY.md fault tests 1 and 2, and the issue's two-worker SIGKILL check)."""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections import Counter

import pytest

from tests.faults.checks import Recovery
from tests.integration.harness import Stack, Worker, maps_mention
from tests.integration.photos import meter_jpeg

pytestmark = [pytest.mark.integration, pytest.mark.model]

# Short enough for a test to wait out, and still: soft < hard < visibility (RELIABILITY.md).
FAST_REDELIVERY = {
    "METER_OCR_VISIBILITY_TIMEOUT": "60",
    "METER_OCR_TASK_TIME_LIMIT": "45",
    "METER_OCR_TASK_SOFT_TIME_LIMIT": "40",
}


def _folder_of_photos(path, count: int):
    path.mkdir()
    for i in range(count):
        (path / f"{i:04d}.jpg").write_bytes(meter_jpeg(i))
    return path


def _job_id(result) -> str:
    return result.stdout.splitlines()[0].strip()


def _assert_one_row_per_photo(stack: Stack, job_id: str, expected: set[str]) -> list[dict]:
    rows = stack.rows(job_id)
    sources = [row["source"] for row in rows]
    assert len(sources) == len(set(sources)) == len(expected)
    assert set(sources) == expected
    assert "pending" not in {row["status"] for row in rows}
    status = stack.cli("status", job_id).stdout
    counts = Counter(row["status"] for row in rows)
    assert f"photos: {len(expected)}/{len(expected)} done" in status
    for name, n in counts.items():
        assert f"{name} {n}" in status
    return rows


def test_plain_celery_worker_parent_never_loads_tensorflow(make_stack, postgres_url, tmp_path):
    stack = make_stack(postgres_url)
    folder = _folder_of_photos(tmp_path / "photos", 6)
    worker = Worker(stack, tmp_path / "worker.log", name="plain", concurrency=1)
    try:
        worker.wait_ready(children=1)
        job_id = _job_id(stack.cli("enqueue", str(folder), "--wait", "--timeout", "120"))
        _assert_one_row_per_photo(stack, job_id, {str(p) for p in folder.iterdir()})
        children = worker.children()
        assert len(children) == 1
        assert not maps_mention(worker.pid, "tensorflow"), "the Celery parent mapped TensorFlow"
        assert maps_mention(children[0], "libtensorflow"), "the pool child should hold the model"
        assert f"resources ready in pid {children[0]}" in worker.log()
        assert "Task meter_ocr.read_batch" in worker.log()
    finally:
        worker.stop()


def test_pool_child_killed_mid_batch_is_redelivered(make_stack, postgres_url, tmp_path):
    stack = make_stack(postgres_url, **FAST_REDELIVERY)
    folder = _folder_of_photos(tmp_path / "photos", 30)
    worker = Worker(stack, tmp_path / "worker.log", name="victim", concurrency=1)
    try:
        worker.wait_ready(children=1)
        (first_child,) = worker.children()
        # Freeze the child first so the task is surely in its hands (not done) when it dies.
        os.kill(first_child, signal.SIGSTOP)
        job_id = _job_id(stack.cli("enqueue", str(folder), "--batch-size", "30"))
        _wait_for(lambda: "Task meter_ocr.read_batch" in worker.log(), "the task to reach the child")
        os.kill(first_child, signal.SIGKILL)
        clock = Recovery("fault 1: pool child SIGKILLed mid-batch", "(a new child's start-up included)")
        clock.fault()
        # No `resume`: task_reject_on_worker_lost puts the batch back; a fresh child reads it.
        _wait_for(lambda: "state: done" in stack.cli("status", job_id).stdout, "the job to finish", timeout=180)
        clock.recovered()
        _assert_one_row_per_photo(stack, job_id, {str(p) for p in folder.iterdir()})
        assert first_child not in worker.children()
        assert "WorkerLostError" in worker.log() or "signal 9" in worker.log()
    finally:
        worker.stop()


@pytest.mark.slow
def test_two_workers_one_sigkilled_mid_job_every_photo_has_one_row(make_stack, postgres_url, s3_client, tmp_path):
    """The issue's check: S3 + Redis + Postgres, two workers, one killed with SIGKILL mid-job."""
    stack = make_stack(postgres_url, **FAST_REDELIVERY)
    bucket = f"kill-{secrets.token_hex(4)}"
    s3_client.create_bucket(Bucket=bucket)
    uris = set()
    for i in range(200):
        s3_client.put_object(Bucket=bucket, Key=f"p/{i:04d}.jpg", Body=meter_jpeg(i))
        uris.add(f"s3://{bucket}/p/{i:04d}.jpg")
    survivor = Worker(stack, tmp_path / "survivor.log", name="survivor", concurrency=1)
    victim = Worker(stack, tmp_path / "victim.log", name="victim", concurrency=1)
    try:
        survivor.wait_ready(children=1)
        victim.wait_ready(children=1)
        job_id = _job_id(stack.cli("enqueue", f"s3://{bucket}/p/", "--batch-size", "5"))
        _wait_for(lambda: _holds_a_task(victim, after=3), "the victim to be mid-batch after a few batches",
                  every=0.05)
        victim.kill(signal.SIGKILL)
        killed_at = time.monotonic()
        clock = Recovery("fault 2: one of two workers SIGKILLed mid-batch", "(60 s visibility timeout included)")
        clock.fault()
        # No `resume`: the survivor must pick up the victim's unacknowledged batch by itself.
        wait = stack.cli("status", job_id)
        assert "state: done" not in wait.stdout, "the job finished before the kill; make batches smaller"
        _wait_for(lambda: "state: done" in stack.cli("status", job_id).stdout, "the job to finish", timeout=240)
        clock.recovered()
        _assert_one_row_per_photo(stack, job_id, uris)
        print(f"job finished {time.monotonic() - killed_at:.0f}s after the SIGKILL")
    finally:
        victim.stop()
        survivor.stop()


def _holds_a_task(worker: Worker, *, after: int) -> bool:
    """The worker has finished `after` batches and holds one more it has not finished (with
    prefetch 1 and one pool process, a received task is the one being read)."""
    text = worker.log()
    done = text.count("succeeded in")
    return done >= after and text.count("] received") > done


def _wait_for(check, what: str, *, timeout: float = 120, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")
