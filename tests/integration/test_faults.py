"""Fault tests from RELIABILITY.md with real services and workers: Redis killed and restarted
(append-only), Postgres down for a while during writes, SIGTERM mid-batch. Each ends with
exactly one row per photo and the job's counts equal to the rows."""

from __future__ import annotations

import re
import signal
import time

import pytest

from tests.faults.checks import Recovery
from tests.integration.harness import Worker
from tests.integration.photos import meter_jpeg
from tests.integration.test_worker_process import FAST_REDELIVERY, _assert_one_row_per_photo, _job_id, _wait_for

pytestmark = [pytest.mark.integration, pytest.mark.model, pytest.mark.slow]
# Photos per fault job, in batches of 5. These photos end `unreadable` in ~30 ms a batch, so a
# job of 16 batches could finish between two polls, before the fault it is there to meet.
PHOTOS = 600


def _photos(folder, count: int) -> set[str]:
    folder.mkdir()
    for i in range(count):
        (folder / f"{i:04d}.jpg").write_bytes(meter_jpeg(i))
    return {str(path) for path in folder.iterdir()}


def _done(stack, job_id: str) -> bool:
    return "state: done" in stack.cli("status", job_id).stdout


def _batches_done(worker: Worker) -> int:
    return worker.log().count("succeeded in")


def test_redis_killed_and_restarted_mid_job_loses_nothing(make_stack, redis_factory, postgres_url, tmp_path):
    broker = redis_factory(appendonly=True)
    stack = make_stack(postgres_url, **FAST_REDELIVERY)
    stack.broker_url = broker.url
    expected = _photos(tmp_path / "photos", PHOTOS)
    worker = Worker(stack, tmp_path / "worker.log", name="redis-fault", concurrency=1)
    try:
        worker.wait_ready(children=1)
        job_id = _job_id(stack.cli("enqueue", str(tmp_path / "photos"), "--batch-size", "5"))
        _wait_for(lambda: _batches_done(worker) >= 2, "two batches", every=0.05)
        time.sleep(1.5)  # append-only fsyncs every second: the queued batches are on disk
        broker.kill(signal.SIGKILL)
        assert _batches_done(worker) < PHOTOS // 5  # the kill comes mid-job
        clock = Recovery("fault 4: Redis SIGKILLed, restarted 3 s later (append-only)")
        clock.fault()
        time.sleep(3)
        broker.restart()
        _wait_for(lambda: _done(stack, job_id), "the job to finish after the Redis restart", timeout=300)
        clock.recovered()
        _assert_one_row_per_photo(stack, job_id, expected)
    finally:
        worker.stop()


def test_postgres_down_during_writes_is_retried(make_stack, postgres_server, postgres_url, tmp_path):
    stack = make_stack(postgres_url)
    expected = _photos(tmp_path / "photos", PHOTOS)
    worker = Worker(stack, tmp_path / "worker.log", name="pg-fault", concurrency=1)
    try:
        worker.wait_ready(children=1)
        job_id = _job_id(stack.cli("enqueue", str(tmp_path / "photos"), "--batch-size", "5"))
        _wait_for(lambda: _batches_done(worker) >= 2, "two batches", every=0.05)
        postgres_server.stop("immediate", remove=False)
        assert _batches_done(worker) < PHOTOS // 5  # the outage comes mid-job
        clock = Recovery("fault 9: Postgres down 15 s during writes", "(15 s outage included)")
        clock.fault()
        try:
            time.sleep(15)
        finally:
            postgres_server.start()
        _wait_for(lambda: _done(stack, job_id), "the job to finish after Postgres came back", timeout=300)
        clock.recovered()
        _assert_one_row_per_photo(stack, job_id, expected)
        assert "will retry" in worker.log()  # the outage was seen and retried, not skipped
    finally:
        worker.stop()


def test_sigterm_mid_batch_finishes_the_batch_and_another_worker_does_the_rest(make_stack, postgres_url, tmp_path):
    stack = make_stack(postgres_url)
    expected = _photos(tmp_path / "photos", 60)
    first = Worker(stack, tmp_path / "first.log", name="first", concurrency=1)
    second = None
    try:
        first.wait_ready(children=1)
        job_id = _job_id(stack.cli("enqueue", str(tmp_path / "photos"), "--batch-size", "10"))
        _wait_for(lambda: "Task meter_ocr.read_batch" in first.log(), "the first task", every=0.05)
        clock = Recovery("fault 3: SIGTERM mid-batch, a second worker started", "(its start-up included)")
        clock.fault()
        assert first.warm_shutdown() == 0  # the batch in hand is finished, then the worker exits
        log = first.log()
        assert "WorkerLostError" not in log
        # Every task it took was either finished or handed back to the broker, none dropped.
        given_back = sum(int(n) for n in re.findall(r"Restoring (\d+) unacknowledged", log))
        assert log.count("] received") == log.count("succeeded in") + given_back
        assert log.count("succeeded in") >= 1
        second = Worker(stack, tmp_path / "second.log", name="second", concurrency=1)
        _wait_for(lambda: _done(stack, job_id), "the second worker to finish the job", timeout=300)
        clock.recovered()
        _assert_one_row_per_photo(stack, job_id, expected)
    finally:
        first.stop()
        if second is not None:
            second.stop()
